module github.com/barrelgo/barrelgo

go 1.26.0

require (
	github.com/ergo-services/ergo v1.999.224 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
