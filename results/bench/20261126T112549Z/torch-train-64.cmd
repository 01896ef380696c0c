/usr/bin/python3 ../shared/bench/torch_ref.py train --batch 64 --iters 10
