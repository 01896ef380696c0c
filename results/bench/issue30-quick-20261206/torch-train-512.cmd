timeout 300 /usr/bin/python3 /work/shared/bench/torch_ref.py train --batch 512 --iters 1 --threads 1
