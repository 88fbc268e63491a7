package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// fieldAt returns the path (e.g. endpoints[0].workersMax) of the value that
// starts at line:col in src, or "" when there is none.
func fieldAt(src []byte, line, col int) string {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return ""
	}
	for _, doc := range f.Docs {
		if p, ok := findPath(doc.Body, "", line, col); ok {
			return strings.TrimPrefix(p, ".")
		}
	}
	return ""
}

func findPath(n ast.Node, path string, line, col int) (string, bool) {
	if n == nil {
		return "", false
	}
	switch x := n.(type) {
	case *ast.MappingNode:
		for _, mv := range x.Values {
			if p, ok := findPath(mv, path, line, col); ok {
				return p, true
			}
		}
		return "", false
	case *ast.MappingValueNode:
		key := path + "." + x.Key.String()
		if p, ok := findPath(x.Value, key, line, col); ok {
			return p, true
		}
		if at(x.Value, line, col) || at(x.Key, line, col) {
			return key, true
		}
		return "", false
	case *ast.SequenceNode:
		for i, v := range x.Values {
			if p, ok := findPath(v, fmt.Sprintf("%s[%d]", path, i), line, col); ok {
				return p, true
			}
		}
		return "", false
	}
	if at(n, line, col) {
		return path, true
	}
	return "", false
}

func at(n ast.Node, line, col int) bool {
	if n == nil {
		return false
	}
	tk := n.GetToken()
	return tk != nil && tk.Position != nil && tk.Position.Line == line && tk.Position.Column == col
}

// kindName names the YAML kind a Go type expects.
func kindName(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.String:
		return "string"
	case reflect.Slice:
		return "list"
	case reflect.Map, reflect.Struct:
		return "mapping"
	case reflect.Bool:
		return "boolean"
	}
	return t.Kind().String()
}
