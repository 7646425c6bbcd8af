// Package trace records and analyses the latent trajectories of a recurrent-depth model: the
// state x_t of every token after every recurrence t = 0 … T, by default ln_f(s_t) as the
// paper's analysis notebook plots it, or the raw s_t the exit criteria see.
//
// Record runs one cache-free pass with all positions in lockstep (the paper's "parallel"
// analysis) and streams the states to a safetensors file (tensor "states", F32,
// [T+1, tokens, n_embd]) so that memory holds two steps, not the trajectory. ReadStates reads
// such a file back, from here or anywhere else, and Criteria.Classify labels each token.
//
// # Labels
//
// Classify looks at the tail of the trajectory, the last W = max(16, ⌊T/4⌋) steps (so two
// periods of an orbit up to W/2 fit, and the transient of the first 3/4 is ignored), and
// computes only dimensionless numbers, so the label does not change under rotation, scaling
// or embedding in more dimensions:
//
//   - amplitude a = max_tail ‖x_t − x̄‖ / ‖x̄‖, the tail's size relative to the state norm;
//   - decay λ, the per-step factor of ‖x_t − x_{t−1}‖ fitted in log space by least squares, and
//     the tail decay Λ = λ^W, how much the step size changes across the tail;
//   - straightness S = ‖x_T − x_{T−W}‖ / Σ_tail ‖x_t − x_{t−1}‖ ∈ [0, 1];
//   - alignment c̄, the mean cosine of consecutive steps (+1 for a drift, cos(2π/p) for an orbit);
//   - the autocorrelation of the centred tail, C(τ) = mean⟨y_t, y_{t+τ}⟩ / mean‖y_t‖².
//
// The labels are tested in this order:
//
//   - fixed_point: a < ε = 1e-3. The whole tail stays within 0.1 % of the state's norm. fp32
//     rounding of a converged state is ~1e-7 relative, and the coda's RMSNorm makes a change
//     this small invisible to the prediction, so anything below is at rest.
//   - converging: Λ < 0.5, the step size at least halves across the tail. It reports the steps
//     still needed to reach ε, ⌈ln(ε/a)/ln λ⌉, extrapolating the exponential decay.
//   - not_converged (growing): Λ > 2, the step size at least doubles.
//   - slider: S > 0.9 and c̄ > 0.8 with steady steps (0.5 ≤ Λ ≤ 2): the tail moves in one
//     direction at a steady speed. It reports the velocity (mean step relative to ‖x̄‖) and the
//     unit drift direction. A straight exponential approach that decays too slowly to halve its
//     step within the tail (λ > 0.978 at W = 32) is indistinguishable from a drift over the
//     window and is labelled a slider; more steps tell them apart.
//   - orbit: C(τ) first goes negative (the state swings to the other side of its centre) and
//     then has a local maximum above 0.8 at some lag p ≤ W/2 (it returns, twice within the
//     tail). p, refined by a parabola through the peak, is the period. A rotation of period p
//     gives C(τ) = cos(2πτ/p), so a non-integer period ≥ 6 still peaks above cos(π/6) ≈ 0.87 at
//     the nearest lag; below 6 a non-integer period may be reported as its first multiple close
//     to an integer. Isotropic noise lowers C by the noise's share of the tail's power, so 0.8
//     tolerates noise of about half the orbit's amplitude.
//   - not_converged: anything else with steady steps, such as a random walk (S ≈ 1/√W, no return).
//
// The tests draw each kind (exponential convergence, damped and pure rotation with noise, linear
// drift, slow decay, random walk) in 96 dimensions under a random rotation and a scale in
// [1e-3, 1e3], and check precision and recall of every label.
package trace
