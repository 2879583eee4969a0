package wire

import (
	"bytes"
	"container/list"
	"encoding/gob"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
)

// The self-contained codec: values that each decode alone, fast. It
// carries the payloads of self-contained streams (a cluster's, whose
// messages may be lost or reordered) and the values of registered error
// types (internal/registry), which travel on their own inside an error
// tree.
//
// A gob stream is a sequence of messages, each (uint length)(int type
// id)(body); a message whose id is negative defines type -id, and the
// first message with a non-negative id is a value. A self-contained
// payload is what a fresh gob.Encoder writes for one value: the type
// definitions it needs, then the value. Making a fresh encoder and a
// fresh decoder for every payload re-describes and re-compiles the types
// each time, which costs far more than the value itself.
//
// Encoding: a gob.Encoder per concrete type is kept (pooled), together
// with every type definition it has written so far (its prefix). Its next
// output is only the value, or new definitions and the value. The
// payload is prefix + value: exactly what a fresh decoder needs, so the
// format is plain gob. Interfaces need care: gob defines the concrete
// type an interface holds where it meets it, in the middle of the
// value's bytes, where it cannot be cut out. So the types a value holds
// in interfaces (at any depth; holdsInterface says where to look) that
// the encoder has not described are described first, by encoding a zero
// value of each on its own and keeping only its definitions; the value
// then needs none. A value too deep to walk, or anything gob writes that
// is not [definitions][one value message], falls back to a fresh
// encoder for that value (and the kept one is dropped).
//
// Decoding: decoders are kept by the exact bytes of the payload's type
// definitions. A decoder that has read those definitions (and nothing
// else that defines a type) decodes the value message alone. A decoder
// is used by one goroutine at a time, is dropped after any error, and is
// dropped if a value taught it a type (definitions inside a value, as a
// fresh encoder writes them): it would refuse the next payload's copy of
// that definition. The cache is bounded in prefixes, bytes and idle
// decoders, so a peer sending endless new type descriptions costs a
// fresh decoder each, and no memory.

const (
	// maxPrefix: type definitions longer than this are not cached, on
	// either side (such a payload is encoded and decoded as before).
	maxPrefix = 32 << 10
	// maxCachedValue: an encoder or decoder that handled a value message
	// longer than this is dropped, not kept: gob keeps its buffers.
	maxCachedValue = 1 << 20
	// The decoder cache's bounds.
	maxDecPrefixes    = 256
	maxDecPrefixBytes = 2 << 20
	maxIdleDecoders   = 8
	// maxEncTypes bounds the types that have an encoder pool.
	maxEncTypes = 4096
	// maxNestingWalk bounds the walk for the types in interfaces.
	maxNestingWalk = 100
)

// legacySelfContained, set by benchmarks only, makes every payload use a
// fresh encoder and decoder, as before the caches.
var legacySelfContained atomic.Bool

// gobUint decodes gob's unsigned integer at the start of b: its value
// and width. ok is false if b is cut short or malformed.
func gobUint(b []byte) (x uint64, width int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	c := b[0]
	if c <= 0x7f {
		return uint64(c), 1, true
	}
	n := -int(int8(c))
	if n > 8 || len(b) < 1+n {
		return 0, 0, false
	}
	for _, d := range b[1 : 1+n] {
		x = x<<8 | uint64(d)
	}
	return x, 1 + n, true
}

// gobMessage returns the length of the gob message at the start of b
// (its count and body) and whether its type id is negative (a type
// definition). ok is false if b does not start with a whole message
// that has an id.
func gobMessage(b []byte) (n int, def bool, ok bool) {
	count, w, ok := gobUint(b)
	if !ok || count > uint64(len(b)-w) {
		return 0, false, false
	}
	body := b[w : w+int(count)]
	id, _, ok := gobUint(body)
	if !ok {
		return 0, false, false
	}
	// gob's int: the low bit set means negative.
	return w + int(count), id&1 == 1, true
}

// splitTypes splits a gob payload into its leading type definitions and
// the rest, which starts with a value message: it returns the length of
// the definitions and how many messages they are. ok is false if no
// whole value message follows them.
func splitTypes(b []byte) (prefix, defs int, ok bool) {
	for off := 0; ; {
		n, def, ok := gobMessage(b[off:])
		if !ok {
			return 0, 0, false
		}
		if !def {
			return off, defs, true
		}
		defs++
		off += n
	}
}

// encodeFresh encodes v as every payload was once encoded: alone.
func encodeFresh(v any, max int) ([]byte, error) {
	var buf bytes.Buffer
	if err := encodeSafely(gob.NewEncoder(&buf), v); err != nil {
		return nil, err
	}
	if max > 0 && buf.Len() > max {
		return nil, tooLarge(buf.Len(), max)
	}
	return buf.Bytes(), nil
}

func tooLarge(n, max int) error {
	return fmt.Errorf("%w: it encodes to %d bytes, over the limit of %d bytes", ErrTooLarge, n, max)
}

// scEncoder is a kept encoder and the type definitions it has written.
type scEncoder struct {
	buf    bytes.Buffer
	enc    *gob.Encoder // writes to buf
	prefix []byte
	// primed holds the concrete types, met in interfaces, whose
	// definitions enc has written on their own.
	primed map[reflect.Type]bool
	todo   []reflect.Type // scratch
}

// encType is what the encoder keeps per concrete type.
type encType struct {
	pool   sync.Pool // of *scEncoder
	ifaces bool      // holdsInterface: values are walked for the types they hold
}

var encoders struct {
	types sync.Map // reflect.Type → *encType
	n     atomic.Int64
}

// encoderType returns what is kept for values of t, or nil if there are
// too many types already.
func encoderType(t reflect.Type) *encType {
	if et, ok := encoders.types.Load(t); ok {
		return et.(*encType)
	}
	if encoders.n.Load() >= maxEncTypes {
		return nil
	}
	et, loaded := encoders.types.LoadOrStore(t, &encType{ifaces: holdsInterface(t)})
	if !loaded {
		encoders.n.Add(1)
	}
	return et.(*encType)
}

// EncodeSelfContained encodes v into a payload that any gob.Decoder
// decodes alone: plain gob, the type definitions v needs and then v. A
// payload over max bytes (if max > 0) is refused with an error wrapping
// ErrTooLarge; a GobEncode or MarshalBinary that panics is an error. The
// bytes are the caller's. Pass a pointer when v's type has a GobEncode or
// MarshalBinary with a pointer receiver: gob needs an address to call it.
// EncodeSelfContained does not look for cycles (see CheckAcyclic). It may
// be called by several goroutines at once.
//
// A round trip of a struct of four fields costs about as much as on a
// kept gob stream: 8 allocations and about a tenth of the time that a new
// encoder and decoder for each value take (193 allocations; go test -run
// '^$' -bench SelfContained -benchmem ./internal/wire).
func EncodeSelfContained(v any, max int) ([]byte, error) {
	if legacySelfContained.Load() {
		return encodeFresh(v, max)
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return encodeFresh(v, max)
	}
	et := encoderType(rv.Type())
	if et == nil {
		return encodeFresh(v, max)
	}
	e, _ := et.pool.Get().(*scEncoder)
	if e == nil {
		e = new(scEncoder)
		e.enc = gob.NewEncoder(&e.buf)
	}
	if et.ifaces {
		// Describe the types v holds in interfaces first, each on its
		// own: gob would otherwise write their definitions in the
		// middle of the value, where they cannot be cut out.
		e.todo = e.todo[:0]
		if !e.unprimed(rv, 0) {
			return encodeFresh(v, max) // too deep to walk: drop e
		}
		for _, t := range e.todo {
			if !e.prime(t) {
				return encodeFresh(v, max) // e has written who knows what: drop it
			}
		}
	}
	e.buf.Reset()
	if err := encodeSafely(e.enc, v); err != nil {
		// e may have written or remembered anything: drop it.
		return nil, err
	}
	value, ok := e.cut()
	if !ok {
		return encodeFresh(v, max) // definitions inside the value: drop e
	}
	size := len(e.prefix) + len(value)
	var payload []byte
	if max <= 0 || size <= max {
		payload = make([]byte, 0, size)
		payload = append(append(payload, e.prefix...), value...)
	}
	// e is sound: it wrote nothing its prefix lacks.
	if len(e.prefix) <= maxPrefix && len(value) <= maxCachedValue {
		if e.buf.Cap() > 64<<10 {
			e.buf = bytes.Buffer{}
		}
		et.pool.Put(e)
	}
	if payload == nil {
		if et.ifaces {
			// The prefix may describe types earlier values held and
			// this one does not: the limit is for what it needs.
			return encodeFresh(v, max)
		}
		return nil, tooLarge(size, max)
	}
	return payload, nil
}

// cut takes the type definitions at the head of what enc wrote into the
// prefix and returns the rest, which must be one value message.
func (e *scEncoder) cut() ([]byte, bool) {
	out := e.buf.Bytes()
	plen, _, ok := splitTypes(out)
	if !ok {
		return nil, false
	}
	if n, def, ok := gobMessage(out[plen:]); !ok || def || plen+n != len(out) {
		return nil, false
	}
	if plen > 0 { // (most values define nothing: e is not written to)
		e.prefix = append(e.prefix, out[:plen]...)
	}
	return out[plen:], true
}

// prime makes enc describe t, a type met in an interface, by encoding a
// zero value of it alone: its definitions join the prefix and the value
// is thrown away.
func (e *scEncoder) prime(t reflect.Type) bool {
	var z reflect.Value
	if t.Kind() == reflect.Pointer {
		z = reflect.New(t.Elem()) // gob refuses a nil pointer
	} else {
		z = reflect.New(t).Elem()
	}
	e.buf.Reset()
	if err := encodeSafely(e.enc, z.Interface()); err != nil {
		return false
	}
	if _, ok := e.cut(); !ok {
		return false
	}
	if e.primed == nil {
		e.primed = map[reflect.Type]bool{}
	}
	e.primed[t] = true
	return true
}

// unprimed adds to e.todo the concrete types that interfaces in v hold
// and e has not described. It returns false if v is too deep to walk.
func (e *scEncoder) unprimed(v reflect.Value, depth int) bool {
	if !holdsInterface(v.Type()) {
		return true
	}
	if depth > maxNestingWalk {
		return false
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return true
		}
		t := v.Elem().Type()
		if !e.primed[t] && !slices.Contains(e.todo, t) {
			e.todo = append(e.todo, t)
		}
		return e.unprimed(v.Elem(), depth+1)
	case reflect.Pointer:
		return v.IsNil() || e.unprimed(v.Elem(), depth+1)
	case reflect.Struct:
		for _, i := range gobFieldsWhere(&ifaceFields, v.Type(), holdsInterface) {
			if !e.unprimed(v.Field(i), depth+1) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if !e.unprimed(v.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if !e.unprimed(it.Key(), depth+1) || !e.unprimed(it.Value(), depth+1) {
				return false
			}
		}
	}
	return true
}

// ifaceFields caches, per struct type, the fields gob encodes that can
// hold an interface.
var ifaceFields sync.Map // reflect.Type → []int

// scDecoder is a kept decoder and the reader it reads from.
type scDecoder struct {
	r   sliceReader
	dec *gob.Decoder
}

func newSCDecoder() *scDecoder {
	d := new(scDecoder)
	d.dec = gob.NewDecoder(&d.r)
	return d
}

// decEntry holds the idle decoders that have read one prefix.
type decEntry struct {
	key  string
	idle []*scDecoder
	elem *list.Element
	gone bool // evicted: no longer in the cache
}

var decoders struct {
	mu    sync.Mutex
	m     map[string]*decEntry
	lru   list.List // of *decEntry, most recent first
	bytes int       // the keys' bytes
}

// wireTypesField is the index of gob.Decoder's map of the types it has
// been told about, or -1 if this Go's gob has none: then no decoder is
// kept (it could not be told whether a value taught it a type).
var wireTypesField = func() int {
	f, ok := reflect.TypeFor[gob.Decoder]().FieldByName("wireType")
	if !ok || len(f.Index) != 1 || f.Type.Kind() != reflect.Map {
		return -1
	}
	return f.Index[0]
}()

// knownTypes returns how many types d has been told about.
func knownTypes(d *gob.Decoder) int {
	return reflect.ValueOf(d).Elem().Field(wireTypesField).Len()
}

// takeDecoder returns an idle decoder that has read prefix, or nil, and
// the cache's entry for prefix, if it has one (for putDecoder).
func takeDecoder(prefix []byte) (*scDecoder, *decEntry) {
	decoders.mu.Lock()
	defer decoders.mu.Unlock()
	e := decoders.m[string(prefix)]
	if e == nil || len(e.idle) == 0 {
		return nil, e
	}
	d := e.idle[len(e.idle)-1]
	e.idle[len(e.idle)-1] = nil
	e.idle = e.idle[:len(e.idle)-1]
	return d, e
}

// putDecoder keeps d, which has read prefix and nothing else that
// defines a type, for the next payload with that prefix. e is the
// entry takeDecoder returned for prefix, if any.
func putDecoder(prefix []byte, e *decEntry, d *scDecoder) {
	d.r.reset(nil)
	decoders.mu.Lock()
	defer decoders.mu.Unlock()
	if e == nil || e.gone {
		e = decoders.m[string(prefix)]
	}
	if e == nil {
		if decoders.m == nil {
			decoders.m = map[string]*decEntry{}
		}
		e = &decEntry{key: string(prefix)}
		e.elem = decoders.lru.PushFront(e)
		decoders.m[e.key] = e
		decoders.bytes += len(e.key)
		for len(decoders.m) > maxDecPrefixes || decoders.bytes > maxDecPrefixBytes {
			old := decoders.lru.Back().Value.(*decEntry)
			if old == e {
				break
			}
			decoders.lru.Remove(old.elem)
			delete(decoders.m, old.key)
			decoders.bytes -= len(old.key)
			old.gone, old.idle = true, nil
		}
	} else {
		decoders.lru.MoveToFront(e.elem)
	}
	if len(e.idle) < maxIdleDecoders {
		e.idle = append(e.idle, d)
	}
}

// DecodeSelfContained decodes data, a payload that carries its own type
// definitions (EncodeSelfContained's, or any fresh gob.Encoder's output
// for one value), into v, which must be a pointer: as a fresh
// gob.Decoder would, usually faster. Malformed data is an error, never a
// panic of gob's own (a GobDecode or UnmarshalBinary that panics is the
// caller's to recover). It may be called by several goroutines at once.
func DecodeSelfContained(data []byte, v any) error {
	plen, defs, ok := splitTypes(data)
	if legacySelfContained.Load() || !ok || plen > maxPrefix || wireTypesField < 0 {
		var r sliceReader
		r.reset(data)
		if err := gob.NewDecoder(&r).Decode(v); err != nil {
			return err
		}
		return strayBytes(r.Len())
	}
	prefix, value := data[:plen], data[plen:]
	d, e := takeDecoder(prefix)
	if d != nil {
		d.r.reset(value)
	} else {
		d = newSCDecoder()
		d.r.reset(data)
	}
	if err := d.dec.Decode(v); err != nil {
		return err // and d, in a state nobody knows, is dropped
	}
	if n := d.r.Len(); n != 0 {
		return strayBytes(n)
	}
	if knownTypes(d.dec) == defs && len(value) <= maxCachedValue {
		putDecoder(prefix, e, d)
	}
	return nil
}

// strayBytes is the error of n bytes left after a payload's one value,
// if n > 0.
func strayBytes(n int) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d stray bytes after a self-contained payload", ErrProtocol, n)
}

// selfContainedCacheLen returns the number of prefixes the decoder cache
// holds and their bytes, for tests.
func selfContainedCacheLen() (prefixes, bytes int) {
	decoders.mu.Lock()
	defer decoders.mu.Unlock()
	return len(decoders.m), decoders.bytes
}
