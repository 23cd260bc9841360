module github.com/zcingest/zerocopy

go 1.26.0

require (
	github.com/datarhei/gosrt v0.11.0
	github.com/langhuihui/gomem v0.0.0-20251013004544-ee5a2a75c165
	github.com/prometheus/client_golang v1.23.2
	github.com/quic-go/quic-go v0.65.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/benburkert/openpgp v0.0.0-20160410205803-c2471f86866c // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.66.1 // indirect
	github.com/prometheus/procfs v0.16.1 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.8 // indirect
)
