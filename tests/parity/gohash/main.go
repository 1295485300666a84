// Command gohash prints Argo Rollouts' pod-template hash of each template it reads, with
// Argo's own function (github.com/argoproj/argo-rollouts/utils/hash), for rolloutd's parity
// tests. Input: one JSON object a line, {"template": <PodTemplateSpec>, "collisionCount": n}
// (collisionCount optional). Output, a line each: the hash, a tab, and the JSON that Go
// encoded (what was hashed); or "error", a tab, and the decoding error.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/argoproj/argo-rollouts/utils/hash"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
)

type request struct {
	Template       json.RawMessage `json:"template"`
	CollisionCount *int32          `json:"collisionCount"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintf(out, "error\trequest: %s\n", oneLine(err))
			continue
		}
		// The decoder client-go uses for API objects: case-sensitive field names.
		var template corev1.PodTemplateSpec
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(req.Template, &template); err != nil {
			fmt.Fprintf(out, "error\t%s\n", oneLine(err))
			continue
		}
		encoded, err := json.Marshal(&template)
		if err != nil {
			fmt.Fprintf(out, "error\t%s\n", oneLine(err))
			continue
		}
		fmt.Fprintf(out, "%s\t%s\n", hash.ComputePodTemplateHash(&template, req.CollisionCount), encoded)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
