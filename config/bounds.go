package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// Range tags: a numeric or duration field may carry `min:"…"` and
// `max:"…"`, written as its values are (durations in Go syntax, "1s"). Apply
// checks the final value, after defaults, file and environment, and
// refuses one outside the range with an *Error naming the key, the bound
// and the value:
//
//	global.publish.ringsize: 0 is below the minimum 1

// ErrOutOfRange is the reason of an *Error for a value outside its field's
// min/max tags.
var ErrOutOfRange = errors.New("out of range")

// boundable reports whether min/max tags make sense on t.
func boundable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// checkBoundTags refuses range tags on fields that cannot have them, tags
// that do not parse as the field's type, and min > max.
func checkBoundTags(f field) error {
	if f.min == "" && f.max == "" {
		return nil
	}
	if f.kind != kindScalar || !boundable(f.typ) {
		return fmt.Errorf("min/max tags need a number or duration field, not %s", typeName(f.typ))
	}
	var lo, hi reflect.Value
	for _, b := range []struct {
		name, text string
		dst        *reflect.Value
	}{{"min", f.min, &lo}, {"max", f.max, &hi}} {
		if b.text == "" {
			continue
		}
		v := reflect.New(f.typ).Elem()
		if err := setText(v, kindScalar, b.text); err != nil {
			return fmt.Errorf("bad %s tag %q for %s: %w", b.name, b.text, typeName(f.typ), err)
		}
		*b.dst = v
	}
	if lo.IsValid() && hi.IsValid() && compare(lo, hi) > 0 {
		return fmt.Errorf("min tag %q is above max tag %q", f.min, f.max)
	}
	return nil
}

// compare orders two values of one numeric type: -1, 0 or 1.
func compare(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x, y := a.Int(), b.Int()
		return cmpOrdered(x, y)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cmpOrdered(a.Uint(), b.Uint())
	default:
		return cmpOrdered(a.Float(), b.Float())
	}
}

func cmpOrdered[T int64 | uint64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// formatValue writes a value the way its tags and the config file write it.
func formatValue(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	}
	return strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits())
}

// RangeError is the reason inside an *Error for a value outside its range.
type RangeError struct {
	Value string // the value, formatted like the bound
	Bound string // the tag text that was crossed
	Below bool   // true: under min; false: over max
}

func (e *RangeError) Error() string {
	if e.Below {
		return fmt.Sprintf("%s is below the minimum %s", e.Value, e.Bound)
	}
	return fmt.Sprintf("%s is above the maximum %s", e.Value, e.Bound)
}

// Is lets callers test errors.Is(err, ErrOutOfRange).
func (e *RangeError) Is(target error) bool { return target == ErrOutOfRange }

// checkRanges walks v and returns the first value outside its tags.
func checkRanges(v reflect.Value, path string) error {
	fs, err := fieldsOf(v.Type())
	if err != nil {
		return err
	}
	for _, f := range fs {
		fv, p := v.Field(f.index), joinPath(path, f.key)
		if f.kind == kindStruct {
			if err := checkRanges(fv, p); err != nil {
				return err
			}
			continue
		}
		for _, b := range []struct {
			text  string
			below bool
		}{{f.min, true}, {f.max, false}} {
			if b.text == "" {
				continue
			}
			bound := reflect.New(f.typ).Elem()
			if err := setText(bound, kindScalar, b.text); err != nil {
				return err // checked by fieldsOf already
			}
			c := compare(fv, bound)
			if (b.below && c < 0) || (!b.below && c > 0) {
				return &Error{Path: p, Err: &RangeError{Value: formatValue(fv), Bound: b.text, Below: b.below}}
			}
		}
	}
	return nil
}
