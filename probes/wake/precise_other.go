//go:build !linux

package wake

import "errors"

// ErrUnsupported is returned by Precise on platforms without
// clock_nanosleep(TIMER_ABSTIME) for the clock to use.
var ErrUnsupported = errors.New("wake: the precise clock needs Linux")

// Precise returns the precise clock where the platform has one; here it
// does not.
func Precise() (Clock, error) { return nil, ErrUnsupported }
