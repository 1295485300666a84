// Command gotypes writes rolloutd/plan/gofields.py: the encoding/json field table of
// corev1.PodTemplateSpec (field order, JSON names, omitempty/omitzero, element types), read by
// reflection from the k8s.io/api version pinned in go.mod, so that rolloutd can encode a pod
// template byte for byte as Argo Rollouts does before hashing it. With -steps it writes
// rolloutd/plan/gostepfields.py instead: the same table for Argo's v1alpha1.CanaryStep (from
// the argo-rollouts version pinned in go.mod), which Argo encodes to get currentStepHash.
//
// Run from this folder: go run . > ../../rolloutd/plan/gofields.py
// and: go run . -steps > ../../rolloutd/plan/gostepfields.py
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type field struct {
	name  string
	spec  string
	flags int
}

const (
	omitEmpty = 1
	omitZero  = 2
)

var (
	marshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	// Types with their own MarshalJSON: encoded by hand-written Python code, named here.
	special = map[reflect.Type]string{
		reflect.TypeOf(resource.Quantity{}):  "quantity",
		reflect.TypeOf(intstr.IntOrString{}): "intstr",
		reflect.TypeOf(metav1.Time{}):        "time",
		reflect.TypeOf(metav1.FieldsV1{}):    "raw",
		reflect.TypeOf(json.RawMessage{}):    "raw",
	}
	structs = map[string][]field{}
	pending []reflect.Type
)

func specOf(t reflect.Type) string {
	if s, ok := special[t]; ok {
		return s
	}
	if t.Kind() == reflect.Pointer {
		return "ptr:" + specOf(t.Elem())
	}
	if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) {
		fmt.Fprintf(os.Stderr, "unhandled json.Marshaler %v\n", t)
		os.Exit(1)
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return t.Kind().String() // the width matters: Go refuses a number out of range
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes"
		}
		return "slice:" + specOf(t.Elem())
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			fmt.Fprintf(os.Stderr, "map key %v\n", t)
			os.Exit(1)
		}
		return "map:" + specOf(t.Elem())
	case reflect.Struct:
		name := structName(t)
		if _, seen := structs[name]; !seen {
			structs[name] = nil
			pending = append(pending, t)
		}
		return "struct:" + name
	}
	fmt.Fprintf(os.Stderr, "unhandled kind %v\n", t)
	os.Exit(1)
	return ""
}

// structName is a struct's package path from k8s.io/api or apimachinery, and its name.
func structName(t reflect.Type) string {
	parts := strings.Split(t.PkgPath(), "/")
	return strings.Join(parts[max(0, len(parts)-2):], "/") + "." + t.Name()
}

// flatten lists a struct's encoded fields in encoding/json's order: declaration order, with
// embedded structs (no JSON name) expanded in place. k8s types have no name conflicts, which
// is checked rather than resolved.
func flatten(t reflect.Type, out []field, seen map[string]bool) []field {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		name := parts[0]
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = flatten(f.Type, out, seen)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		flags := 0
		for _, o := range parts[1:] {
			switch o {
			case "omitempty":
				flags |= omitEmpty
			case "omitzero":
				flags |= omitZero
			case "inline", "":
			default:
				fmt.Fprintf(os.Stderr, "unhandled tag option %q on %v.%s\n", o, t, f.Name)
				os.Exit(1)
			}
		}
		if seen[name] {
			fmt.Fprintf(os.Stderr, "duplicate field %s in %v\n", name, t)
			os.Exit(1)
		}
		seen[name] = true
		out = append(out, field{name, specOf(f.Type), flags})
	}
	return out
}

func main() {
	steps := flag.Bool("steps", false, "write the table of Argo's []v1alpha1.CanaryStep")
	flag.Parse()
	rootType, what, module, out := reflect.TypeOf(corev1.PodTemplateSpec{}),
		"corev1.PodTemplateSpec", "k8s.io/api", "gofields"
	if *steps {
		rootType, what, module, out = reflect.TypeOf([]v1alpha1.CanaryStep{}),
			"Argo Rollouts' []v1alpha1.CanaryStep", "github.com/argoproj/argo-rollouts", "gostepfields"
	}
	root := specOf(rootType)
	for len(pending) > 0 {
		t := pending[0]
		pending = pending[1:]
		name := structName(t)
		structs[name] = flatten(t, nil, map[string]bool{})
	}
	version := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == module {
				version = d.Version
			}
		}
	}
	names := make([]string, 0, len(structs))
	for n := range structs {
		names = append(names, n)
	}
	sort.Strings(names)
	flagText := ""
	if *steps {
		flagText = " -steps"
	}
	fmt.Printf("# Generated by tools/gotypes (go run .%s > ../../rolloutd/plan/%s.py); do not edit.\n",
		flagText, out)
	fmt.Printf("\"\"\"encoding/json field table of %s\nfrom %s %s.\n\n", what, module, version)
	fmt.Println("Each struct maps to its encoded fields in Go's order: (JSON name, type, flags), where a type")
	fmt.Println("is a scalar name, `ptr:`/`slice:`/`map:` of a type, or `struct:` and a struct's name, and")
	fmt.Println("flags are 1 for omitempty and 2 for omitzero.")
	fmt.Println("\"\"\"")
	fmt.Println()
	if *steps {
		fmt.Printf("ARGO_VERSION = %q\n", version)
	} else {
		fmt.Printf("K8S_API_VERSION = %q\n", version)
	}
	fmt.Printf("ROOT = %q\n", root)
	fmt.Println("# fmt: off")
	fmt.Println("STRUCTS: dict[str, tuple[tuple[str, str, int], ...]] = {")
	for _, n := range names {
		fmt.Printf("    %q: (\n", n)
		for _, f := range structs[n] {
			// Laid out as ruff format would, so the generated file passes its check as is.
			line := fmt.Sprintf("        (%q, %q, %d),", f.name, f.spec, f.flags)
			if len(line) > 100 {
				line = fmt.Sprintf("        (\n            %q,\n            %q,\n            %d,\n        ),",
					f.name, f.spec, f.flags)
			}
			fmt.Println(line)
		}
		fmt.Println("    ),")
	}
	fmt.Println("}")
	fmt.Println("# fmt: on")
}
