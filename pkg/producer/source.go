package producer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/contactsync/contactsync/pkg/delta"
)

// Record is one input record: a valid delta, or the reason it was rejected.
type Record struct {
	// N numbers the record for people: the line number in an NDJSON or CSV
	// file, the 1-based position in an HTTP request.
	N     int
	Delta delta.Delta
	// Err is why the record is rejected (a *delta.FieldError when a field is
	// to blame); nil for a valid delta.
	Err error
}

// Source yields records. Next returns false at the end of the input, or when
// the input itself cannot be read; Err then says why. A bad record never
// stops a source: it is yielded with Err set.
type Source interface {
	Next() (Record, bool)
	Err() error
}

// MaxLineBytes is the longest NDJSON line read; longer lines are rejected.
const MaxLineBytes = 1 << 20

// NDJSON reads one delta per line. Blank lines are skipped; CRLF line ends
// and a UTF-8 byte order mark are accepted.
func NDJSON(r io.Reader) Source {
	return &ndjson{r: bufio.NewReaderSize(r, 64<<10)}
}

type ndjson struct {
	r    *bufio.Reader
	line int
	err  error
	done bool
}

var bom = []byte("\xEF\xBB\xBF")

func (s *ndjson) Next() (Record, bool) {
	for !s.done {
		line, tooLong, err := s.readLine()
		if err != nil && !errors.Is(err, io.EOF) {
			s.err = fmt.Errorf("line %d: %w", s.line+1, err)
			s.done = true
			return Record{}, false
		}
		if errors.Is(err, io.EOF) {
			s.done = true
			if len(line) == 0 && !tooLong {
				return Record{}, false
			}
		}
		s.line++
		if s.line == 1 {
			line = bytes.TrimPrefix(line, bom)
		}
		if tooLong {
			return Record{N: s.line, Err: &delta.FieldError{Reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}}, true
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		d, derr := delta.Decode(line)
		return Record{N: s.line, Delta: d, Err: derr}, true
	}
	return Record{}, false
}

// readLine returns the next line without its end, reading past (and
// reporting) lines longer than MaxLineBytes.
func (s *ndjson) readLine() (line []byte, tooLong bool, err error) {
	for {
		chunk, err := s.r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > MaxLineBytes+2 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), tooLong, err
	}
}

func (s *ndjson) Err() error { return s.err }

// Records is a Source over records already in memory.
func Records(recs []Record) Source { return &sliceSource{recs: recs} }

type sliceSource struct {
	recs []Record
	i    int
}

func (s *sliceSource) Next() (Record, bool) {
	if s.i >= len(s.recs) {
		return Record{}, false
	}
	s.i++
	return s.recs[s.i-1], true
}

func (s *sliceSource) Err() error { return nil }

// WithProgress wraps src so fn is called with the number of records read
// after every `every` records, and once more at the end.
func WithProgress(src Source, every int, fn func(read int)) Source {
	if every <= 0 {
		every = 1000
	}
	return &progress{Source: src, every: every, fn: fn}
}

type progress struct {
	Source
	every, n int
	fn       func(int)
	ended    bool
}

func (p *progress) Next() (Record, bool) {
	r, ok := p.Source.Next()
	if ok {
		p.n++
		if p.n%p.every == 0 {
			p.fn(p.n)
		}
	} else if !p.ended {
		p.ended = true
		if p.n%p.every != 0 {
			p.fn(p.n)
		}
	}
	return r, ok
}
