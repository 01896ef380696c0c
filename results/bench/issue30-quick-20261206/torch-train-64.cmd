timeout 300 /usr/bin/python3 /work/shared/bench/torch_ref.py train --batch 64 --iters 1 --threads 1
