package main

import "fmt"

func cmdDump() {
	for _, e := range evidence {
		set := testSet(e.ds)
		writeF32("/tmp/ev/clean-"+e.name+".f32", set.Image(e.index))
		fmt.Println(e.name, set.Labels[e.index])
	}
}
