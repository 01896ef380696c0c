/usr/bin/python3 ../shared/bench/torch_ref.py train --batch 512 --iters 3
