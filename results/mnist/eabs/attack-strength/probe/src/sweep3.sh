#!/bin/bash
./ev6 attack -label honest-default -honest 20
./ev6 attack -label honest-eot1 -honest 20 -eot 1
./ev6 attack -label honest-changed0 -honest 20 -warm-changed 0
