#!/bin/bash
# variations x seeds on the three evidence images
run() { lab=$1; shift; for s in 1 2 3 4; do ./ev attack -label "$lab" -seed $s "$@"; done; }
run default
run eot1 -eot 1
run restarts20 -restarts 20
run warm1 -warm 1
run warm5 -warm 5
run changed0 -warm-changed 0
run restart0changed0 -warm-restart 0 -warm-changed 0
run fullevery10 -full-every 10
run steps200 -steps 200
run step2x -step 0.09375
run nokeep -keep-going=false
