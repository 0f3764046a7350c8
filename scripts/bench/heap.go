package main

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// heapSampler records the peak runtime.MemStats.HeapInuse of this process,
// sampled every 50ms from start until stop.
type heapSampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  uint64
	idle  uint64
}

// sampleHeap collects garbage (so an earlier scenario's leftovers do not
// count), then starts sampling.
func sampleHeap() *heapSampler {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapSampler{stopc: make(chan struct{}), idle: ms.HeapInuse, peak: ms.HeapInuse}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stopc:
				return
			case <-t.C:
				h.sample()
			}
		}
	}()
	return h
}

func (h *heapSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.peak = max(h.peak, ms.HeapInuse)
}

// stop ends sampling (taking a last sample) and returns the peak.
func (h *heapSampler) stop() uint64 {
	close(h.stopc)
	h.wg.Wait()
	h.sample()
	return h.peak
}
