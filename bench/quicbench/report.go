package quicbench

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Targets of issue 11, per node.
const (
	// TargetNonQUICPerByte is the allocated bytes per relayed byte
	// allowed on top of quic-go's own.
	TargetNonQUICPerByte = 0.001
)

// WriteMarkdown writes the report's tables.
func (r *Report) WriteMarkdown(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "Setup: %d paced publishers of a %.2f Mbit/s clip into the parent (RTMP), %d children pulling all %d streams over QUIC, %d HTTP-FLV players on each child (Go readers, discarding); warm-up %v, window %v; nodes at runtime.MemProfileRate=%d. Machine: %s.\n\n",
		o.Publishers, r.ClipBitrate/1e6, o.Children, o.Publishers, o.PlayersPerChild, o.Warmup, o.Window, o.MemProfileRate, r.Machine)
	if o.AllocatorSize > 0 {
		fmt.Fprintf(w, "Nodes' zerocopy.rtmp.allocatorsize and zerocopy.quic.allocatorsize: %d.\n\n", o.AllocatorSize)
	}
	if r.Command != "" {
		fmt.Fprintf(w, "Command: `%s`\n\n", r.Command)
	}
	fmt.Fprintln(w, "| node | relayed MB (QUIC) | MB/s | alloc B/relayed B | quic-go B/B | not quic-go B/B | of which ours B/B | GCs | CPU s | CPU s/GB | heap in use MB | other |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, row := range r.Rows {
		q, non, ours := "n/a", "n/a", "n/a"
		if s := row.Split; s != nil {
			q = fmt.Sprintf("%.5f", row.PerByte(s.QUICGo))
			non = fmt.Sprintf("%.5f", row.PerByte(s.Ours+s.Other))
			ours = fmt.Sprintf("%.5f", row.PerByte(s.Ours))
		}
		var other []string
		if row.Egress > 0 {
			other = append(other, fmt.Sprintf("players read %.1f MB (%.2f CPU s/GB of egress)", float64(row.Egress)/1e6, row.CPU.Seconds()/(float64(row.Egress)/1e9)))
		}
		if row.In > 0 {
			other = append(other, fmt.Sprintf("RTMP in %.1f MB", float64(row.In)/1e6))
		}
		if row.Copied > 0 {
			other = append(other, fmt.Sprintf("control bytes copied %d", row.Copied))
		}
		fmt.Fprintf(w, "| %s | %.1f | %.2f | %.5f | %s | %s | %s | %d | %.2f | %.1f | %.1f | %s |\n",
			row.Node, float64(row.Relayed)/1e6, float64(row.Relayed)/1e6/row.Window.Seconds(),
			row.PerByte(int64(row.AllocBytes)), q, non, ours, row.GCs, row.CPU.Seconds(), row.CPUPerGB(),
			float64(row.HeapInuse)/1e6, strings.Join(other, "; "))
	}
	if r.PlayerErrs > 0 {
		fmt.Fprintf(w, "\n%d player(s) ended early or failed.\n", r.PlayerErrs)
	}
	for _, row := range r.Rows {
		s := row.Split
		if s == nil {
			continue
		}
		fmt.Fprintf(w, "\n**%s**: window allocations by the leaf-most non-runtime function's package (profile delta, rate %d; the node's own measuring, %d B, left out):\n\n", row.Node, s.Rate, s.Harness)
		type kv struct {
			k string
			v int64
		}
		var pk []kv
		for k, v := range s.Packages {
			pk = append(pk, kv{k, v})
		}
		sort.Slice(pk, func(i, j int) bool { return pk[i].v > pk[j].v })
		for i, p := range pk {
			if i == 8 {
				break
			}
			fmt.Fprintf(w, "- %s: %.2f MB (%.5f B/B)\n", p.k, float64(p.v)/1e6, row.PerByte(p.v))
		}
		if len(s.TopNonQUIC) > 0 {
			fmt.Fprintf(w, "\nNot under quic-go (top functions):\n\n")
			for _, f := range s.TopNonQUIC {
				fmt.Fprintf(w, "- %s: %d B\n", f.Func, f.Bytes)
			}
		}
		if len(s.TopQUIC) > 0 {
			fmt.Fprintf(w, "\nUnder quic-go (top allocating functions):\n\n")
			for _, f := range s.TopQUIC {
				fmt.Fprintf(w, "- %s: %.2f MB\n", f.Func, float64(f.Bytes)/1e6)
			}
		}
	}
}
