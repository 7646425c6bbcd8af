package kernels

import (
	"slices"
	"testing"
)

func TestSelfTestPassesOnThisCPU(t *testing.T) {
	list := allISAs()
	if len(list) == 0 {
		t.Log("no assembly implementations on this CPU")
	}
	for _, s := range list {
		if err := s.selfTest(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		if s.dpGemm != nil {
			if err := s.dpGemm.selfTestDPGemm(); err != nil {
				t.Errorf("%s: %v", s.dpGemm.name, err)
			}
		}
	}
}

// TestSelfTestRejectsWrongDPGemm checks the self-test of the VDPBF16PS packed GEMM catches a
// micro-kernel that drops a pair step, ignores add or drops the lo parts of x, an A pack that
// drops them and a B pack that drops a row group.
func TestSelfTestRejectsWrongDPGemm(t *testing.T) {
	if fast == nil || fast.dpGemm == nil {
		t.Skip("no VDPBF16PS packed GEMM on this CPU")
	}
	good := *fast.dpGemm
	breakages := map[string]func(s *isa){
		"drops a pair step": func(s *isa) {
			s.dpKernel = func(pairs, parts int, a, b, c *float32, ldc int, add bool) {
				good.dpKernel(max(pairs-1, 1), parts, a, b, c, ldc, add)
			}
		},
		"ignores add": func(s *isa) {
			s.dpKernel = func(pairs, parts int, a, b, c *float32, ldc int, add bool) {
				good.dpKernel(pairs, parts, a, b, c, ldc, false)
			}
		},
		"drops the lo parts": func(s *isa) {
			s.dpKernel = func(pairs, parts int, a, b, c *float32, ldc int, add bool) {
				good.dpKernel(pairs, 1, a, b, c, ldc, add)
			}
		},
		"A pack drops the lo parts": func(s *isa) {
			s.dpPackA = func(words []uint32, x []float32, rs, kc, width, parts int) int {
				done := good.dpPackA(words, x, rs, kc, width, parts)
				for q := range done * parts * width {
					if q/width%parts == 1 {
						words[q] = 0
					}
				}
				return done
			}
		},
		"B pack skips a row group": func(s *isa) {
			s.packF32 = func(dst, src *float32, rs, kc, width int) { good.packF32(dst, src, rs, kc, width-8) }
		},
	}
	for name, breakIt := range breakages {
		bad := good
		breakIt(&bad)
		if err := bad.selfTestDPGemm(); err == nil {
			t.Errorf("self-test passed a VDPBF16PS gemm that %s", name)
		}
	}
}

// TestSelfTestRejectsWrongKernels checks the self-test catches a kernel that is off by one
// step, one row or one block: the failure modes of a mis-assembled kernel.
func TestSelfTestRejectsWrongKernels(t *testing.T) {
	list := allISAs()
	if len(list) == 0 {
		t.Skip("no assembly implementations on this CPU to break")
	}
	good := *list[0]
	breakages := map[string]func(s *isa){
		"gemm drops a k step": func(s *isa) {
			s.kernel = func(kc int, a, b, c *float32, ldc int, add bool) { good.kernel(kc-1, a, b, c, ldc, add) }
		},
		"gemm ignores add": func(s *isa) {
			s.kernel = func(kc int, a, b, c *float32, ldc int, add bool) { good.kernel(kc, a, b, c, ldc, false) }
		},
		"gemv fp32 drops a block": func(s *isa) {
			s.gemvF32 = func(out, x, w *float32, k, ldw, rows int) { good.gemvF32(out, x, w, k-s.gemvStep, ldw, rows) }
		},
		"gemv bf16 drops four rows": func(s *isa) {
			s.gemvBF16 = func(out, x *float32, w *uint16, k, ldw, rows int) { good.gemvBF16(out, x, w, k, ldw, rows-4) }
		},
		"fp32 pack skips a row group": func(s *isa) {
			s.packF32 = func(dst, src *float32, rs, kc, width int) { good.packF32(dst, src, rs, kc, width-8) }
		},
		"bf16 pack drops a block": func(s *isa) {
			s.packBF16 = func(dst *float32, src *uint16, rs, kc, width int) { good.packBF16(dst, src, rs, kc-8, width) }
		},
		"6-row pack drops a block": func(s *isa) {
			if good.pack6F32 != nil {
				s.pack6F32 = func(dst, src *float32, rs, kc int) { good.pack6F32(dst, src, rs, kc-8) }
			} else {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
			}
		},
		"dot drops a block": func(s *isa) {
			s.dot = func(a, b *float32, n int) float32 { return good.dot(a, b, n-vecBlock) }
		},
		"q8_0 drops a run": func(s *isa) {
			if good.q8Dot == nil {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
				return
			}
			s.q8Dot = func(out *float32, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int) {
				good.q8Dot(out, qx, dx, qw, dw, blocks-1, rows)
			}
		},
		"multi-row q8_0 drops a run": func(s *isa) {
			if good.q8DotN == nil {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
				return
			}
			s.q8DotN = func(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int) {
				good.q8DotN(out, ldo, qx, dx, qw, dw, blocks-1, rows)
			}
		},
		"2-row q8_0 drops a run": func(s *isa) {
			if good.q8Dot2 == nil {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
				return
			}
			s.q8Dot2 = func(out *float32, ldo int, qx *int8, dx *float32, qw *int8, dw *uint16, blocks, rows int) {
				good.q8Dot2(out, ldo, qx, dx, qw, dw, blocks-1, rows)
			}
		},
		"VDPBF16PS 4-row kernel drops a step": func(s *isa) {
			if good.dpBF16Rows4 == nil {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
				return
			}
			s.dpBF16Rows4 = func(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts int) {
				good.dpBF16Rows4(out, ldo, x, ldx, w, k-dpStep, ldw, rows, parts)
			}
		},
		"VDPBF16PS 1-row kernel drops a step": func(s *isa) {
			if good.dpBF16Rows1 == nil {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
				return
			}
			s.dpBF16Rows1 = func(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts int) {
				good.dpBF16Rows1(out, ldo, x, ldx, w, k-dpStep, ldw, rows, parts)
			}
		},
		"VDPBF16PS 8-row kernel drops a step": func(s *isa) {
			if good.dpBF16Rows8 == nil {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
				return
			}
			s.dpBF16Rows8 = func(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts, mode int, acc *float32) {
				good.dpBF16Rows8(out, ldo, x, ldx, w, k-dpStep, ldw, rows, parts, mode, acc)
			}
		},
		"VDPBF16PS 8-row kernel ignores resume": func(s *isa) {
			if good.dpBF16Rows8 == nil {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
				return
			}
			s.dpBF16Rows8 = func(out *float32, ldo int, x *uint16, ldx int, w *uint16, k, ldw, rows, parts, mode int, acc *float32) {
				good.dpBF16Rows8(out, ldo, x, ldx, w, k, ldw, rows, parts, mode&^rowsResume, acc)
			}
		},
		"4-row fp32 kernel drops a step": func(s *isa) {
			breakPlain(s, &s.sharedF32, 4, func(run rowKernel[float32, float32]) rowKernel[float32, float32] {
				return func(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts int) {
					run(out, ldo, x, ldx, w, k-sharedStep, ldw, rows, parts)
				}
			})
		},
		"widest plain bf16 kernel drops four rows": func(s *isa) {
			widest := 0
			if len(s.sharedBF16.plain) > 1 {
				widest = s.sharedBF16.plain[0].rows
			}
			breakPlain(s, &s.sharedBF16, widest, func(run rowKernel[float32, uint16]) rowKernel[float32, uint16] {
				return func(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int) {
					if rows > 4 {
						run(out, ldo, x, ldx, w, k, ldw, rows-4, parts)
					}
				}
			})
		},
		"2-row bf16 kernel drops a step": func(s *isa) {
			breakPlain(s, &s.sharedBF16, 2, func(run rowKernel[float32, uint16]) rowKernel[float32, uint16] {
				return func(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int) {
					run(out, ldo, x, ldx, w, k-sharedStep, ldw, rows, parts)
				}
			})
		},
		"1-row bf16 kernel drops a step": func(s *isa) {
			breakPlain(s, &s.sharedBF16, 1, func(run rowKernel[float32, uint16]) rowKernel[float32, uint16] {
				return func(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts int) {
					run(out, ldo, x, ldx, w, k-sharedStep, ldw, rows, parts)
				}
			})
		},
		"stretched bf16 kernel drops a step": func(s *isa) {
			s.sharedBF16.stretched = slices.Clone(s.sharedBF16.stretched)
			if len(s.sharedBF16.stretched) == 0 {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
				return
			}
			run := s.sharedBF16.stretched[0].run
			s.sharedBF16.stretched[0].run = func(out *float32, ldo int, x *float32, ldx int, w *uint16, k, ldw, rows, parts, mode int, acc *float32) {
				run(out, ldo, x, ldx, w, k-sharedStep, ldw, rows, parts, mode, acc)
			}
		},
		"stretched fp32 kernel ignores resume": func(s *isa) {
			s.sharedF32.stretched = slices.Clone(s.sharedF32.stretched)
			if len(s.sharedF32.stretched) == 0 {
				s.dot = func(a, b *float32, n int) float32 { return 0 }
				return
			}
			run := s.sharedF32.stretched[0].run
			s.sharedF32.stretched[0].run = func(out *float32, ldo int, x *float32, ldx int, w *float32, k, ldw, rows, parts, mode int, acc *float32) {
				run(out, ldo, x, ldx, w, k, ldw, rows, parts, mode&^rowsResume, acc)
			}
		},
		"axpy drops a block": func(s *isa) {
			s.axpy = func(y, x *float32, a float32, n int) { good.axpy(y, x, a, n-vecBlock) }
		},
	}
	for name, breakIt := range breakages {
		bad := good
		breakIt(&bad)
		if err := bad.selfTest(); err == nil {
			t.Errorf("self-test passed a kernel that %s", name)
		}
	}
}

func TestChooseISA(t *testing.T) {
	if s := chooseISA("go"); s != nil {
		t.Errorf(`chooseISA("go") = %s, want the portable path`, s.name)
	}
	if list := supportedISAs(); len(list) > 0 {
		if s := chooseISA(""); s == nil || s.name != list[0].name {
			t.Errorf(`chooseISA("") did not pick %s`, list[0].name)
		}
	}
}

// breakPlain replaces s's plain row kernel for rows rows in kernels (a copy of the list, so the
// good implementation keeps its own) with wrap's wrapper of it; where there is none, it breaks
// the dot kernel instead, so that the self-test still has something to catch.
func breakPlain[X, W float32 | uint16](s *isa, kernels *rowKernels[X, W], rows int, wrap func(rowKernel[X, W]) rowKernel[X, W]) {
	kernels.plain = slices.Clone(kernels.plain)
	for i, k := range kernels.plain {
		if k.rows == rows {
			kernels.plain[i].run = wrap(k.run)
			return
		}
	}
	s.dot = func(a, b *float32, n int) float32 { return 0 }
}
