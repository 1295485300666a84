// Command gohash prints Argo Rollouts' pod-template hash of each template it reads, with
// Argo's own function (github.com/argoproj/argo-rollouts/utils/hash), for rolloutd's parity
// tests. Input: one JSON object a line, {"template": <PodTemplateSpec>, "collisionCount": n}
// (collisionCount optional). Output, a line each: the hash, a tab, and the JSON that Go
// encoded (what was hashed); or "error", a tab, and the decoding error. A line
// {"steps": <[]CanaryStep>} gets Argo's currentStepHash of a canary Rollout with those steps
// (utils/conditions.ComputeStepHash) and the encoded steps, the same way.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/utils/conditions"
	"github.com/argoproj/argo-rollouts/utils/hash"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
)

type request struct {
	Template       json.RawMessage `json:"template"`
	CollisionCount *int32          `json:"collisionCount"`
	Steps          json.RawMessage `json:"steps"`
}

func stepHash(raw json.RawMessage) (string, error) {
	var steps []v1alpha1.CanaryStep
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &steps); err != nil {
		return "", err
	}
	encoded, err := json.Marshal(steps)
	if err != nil {
		return "", err
	}
	rollout := &v1alpha1.Rollout{}
	rollout.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: steps}
	return conditions.ComputeStepHash(rollout) + "\t" + string(encoded), nil
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
		if req.Steps != nil {
			line, err := stepHash(req.Steps)
			if err != nil {
				fmt.Fprintf(out, "error\t%s\n", oneLine(err))
				continue
			}
			fmt.Fprintln(out, line)
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
