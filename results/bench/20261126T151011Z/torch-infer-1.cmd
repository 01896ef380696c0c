/usr/bin/python3 ../shared/bench/torch_ref.py infer --batch 1 --iters 1 --steps 50
