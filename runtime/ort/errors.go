package ort

// Error is the error of Init, Open and the Session methods. ORT's own message, or this
// package's description of bad input, is kept in Msg, wrapped once, with the operation
// and the file it concerns.
type Error struct {
	Op   string // "init", "open", "run", "metadata", "close"
	Path string // model file, or shared library for "init"; may be empty
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "ort: " + e.Op + ": " + e.Msg
	}
	return "ort: " + e.Op + " " + e.Path + ": " + e.Msg
}
