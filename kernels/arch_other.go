//go:build !amd64

package kernels

// supportedISAs lists no assembly implementations outside amd64.
func supportedISAs() []*isa { return nil }

// allISAs lists no assembly implementations outside amd64.
func allISAs() []*isa { return nil }
