module github.com/zcingest/zerocopy

go 1.26

require github.com/langhuihui/gomem v0.0.0-20251013004544-ee5a2a75c165 // indirect
