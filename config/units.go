package config

import "time"

const (
	second = time.Second
	hour   = time.Hour
)
