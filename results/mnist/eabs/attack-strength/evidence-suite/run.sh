#!/bin/bash
# The three evidence images through the suite (eabs attack, PGD-L2 at the paper's budget:
# eps 1.5, 80 steps, 5 restarts, EOT 5, verdict EOT 5, verdict retries 3) with the
# baseline binary (HEAD without the judge), the fixed default (judge) and the judge with
# 20 restarts at attacker EOT 1; seeds 1-5. Own-data datasets: the clean test images.
set -e
cd "$(dirname "$0")"
export EABS_ORT_LIB=/work/main/third_party/onnxruntime/libonnxruntime.so
M='npy:mnist4280-x.npy#y=mnist4280-y.npy,classes=10'
F='npy:fmnist-x.npy#y=fmnist-y.npy,classes=10'
for s in 1 2 3 4 5; do
  for cfg in base judged judged-r20-eot1; do
    bin=/tmp/eabs-h; extra=""
    [ $cfg = base ] && bin=/tmp/eabs-base
    [ $cfg = judged-r20-eot1 ] && extra="--pgd-restarts 20 --eot 1"
    for d in mnist fmnist; do
      if [ $d = mnist ]; then model=zoo:mnist-eabs; ds=$M; n=1; else model=zoo:fashion-mnist-eabs; ds=$F; n=2; fi
      out=$d-$cfg-seed$s.json
      [ -f $out ] && continue
      $bin attack $model --dataset "$ds" --n $n --sample-seed 0 --eps-l2 1.5 --attacks pgd-l2 --sweep-n 0 \
        --seed $s --pgd-restarts 5 $extra --out $out > $d-$cfg-seed$s.log 2>&1
    done
  done
done
