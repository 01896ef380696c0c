timeout 300 /usr/bin/python3 /work/shared/bench/torch_ref.py infer --batch 16 --iters 1 --steps 2 --threads 1
