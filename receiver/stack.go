package receiver

// pipelineStack is the goroutine stack, in bytes, that ServeExport needs
// for one record: decoding and converting it, the sink's preparation of
// it (the catalog encodes and indexes it) and the reply templates, which
// text/template executes by deep recursion through reflect. Measured on
// the default templates: more than 8 KB, less than 16 KB.
const pipelineStack = 16 << 10

// growStack makes the calling goroutine's stack pipelineStack bytes at
// once, while it holds only a few frames.
//
// Each gateway connection runs on a new goroutine, which starts with a
// 2 KB stack. The runtime doubles a stack each time a call does not fit,
// copying it and adjusting every frame on it, so a connection would grow
// its stack three times (2, 4, 8, 16 KB) deep inside MARC decoding and
// template execution: about 6% of the daemon's CPU under load. A frame of
// half of pipelineStack does not fit, with the runtime's guard, in any
// smaller stack, so the runtime doubles straight to pipelineStack,
// copying only the frames of the gateway and ServeExport (under 7 KB of
// stack in use below it still fits then). On a stack that is already
// large enough it costs only clearing the frame.
//
// It returns a byte of the frame so that the compiler keeps the frame;
// callers ignore it.
//
//go:noinline
func growStack(i int) byte {
	var frame [pipelineStack / 2]byte
	frame[i%len(frame)] = 1
	return frame[(i+1)%len(frame)]
}
