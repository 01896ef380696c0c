/usr/bin/python3 ../shared/bench/torch_ref.py infer --batch 16 --iters 1 --steps 50
