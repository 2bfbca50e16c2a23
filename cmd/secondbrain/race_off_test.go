//go:build !race

package main

const (
	testPingInterval = defaultPingInterval
	testNoopInterval = defaultNoopInterval
)
