//go:build !linux

package main

// newRawClient falls back to the gateway client: the raw client's
// blocking socket calls are written for Linux.
func newRawClient(o options) (*client, string, error) {
	return gatewayClient(o), "the raw client is Linux-only; using -client gateway", nil
}

// newEpollClient falls back to the gateway client: the epoll client is
// written for Linux.
func newEpollClient(o options) (*client, string, error) {
	return gatewayClient(o), "the epoll client is Linux-only; using -client gateway", nil
}
