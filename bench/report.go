package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Goals that the report checks, the "Targets" of its last table.
const (
	goalThroughputRatio = 0.85
	goalP99Overhead     = time.Millisecond
	goalP99Rate         = 2000 // requests a second
	goalPeakRSS         = 60 << 20
)

// machine describes where the benchmark ran.
type machine struct {
	cores     int
	cpuModel  string
	goVersion string
	loadAvg   string
}

func readMachine() machine {
	m := machine{
		cores:     runtime.NumCPU(),
		cpuModel:  "unknown",
		goVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		loadAvg:   "unknown",
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.cpuModel = strings.TrimSpace(value)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if fields := strings.Fields(string(data)); len(fields) >= 3 {
			m.loadAvg = strings.Join(fields[:3], " ")
		}
	}
	return m
}

// resources are the token requests, memory and goroutines of one backend
// after the runs.
type resources struct {
	tokenRequests    int64
	generateRequests int64
	peakRSS          int64 // bytes
	goroutinesSource string
	goroutines       int
	scrapeBytes      int
	scrapeErr        error
}

// logSummary counts the lines of c2cauth's log.
type logSummary struct {
	lines    int
	issued   int // "auth code issued" events
	warnings int // WARN and ERROR lines
	bytes    int64
}

func readLogSummary(path string) (logSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return logSummary{}, fmt.Errorf("read the c2cauth log: %w", err)
	}
	defer f.Close()
	var s logSummary
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		s.lines++
		s.bytes += int64(len(line)) + 1
		if strings.Contains(line, `"msg":"auth code issued"`) {
			s.issued++
		}
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			s.warnings++
		}
	}
	if err := scanner.Err(); err != nil {
		return logSummary{}, fmt.Errorf("read the c2cauth log: %w", err)
	}
	return s, nil
}

// report collects the results of a benchmark and writes them as Markdown.
type report struct {
	settings  settings
	machine   machine
	started   time.Time
	runs      []runResult
	resources map[string]resources
	log       logSummary
}

func (r *report) add(res runResult) { r.runs = append(r.runs, res) }

// selectRuns returns the runs of the target called name at rate, in the
// order they ran; rate 0 selects the closed-loop runs.
func (r *report) selectRuns(name string, rate int) []runResult {
	var runs []runResult
	for _, res := range r.runs {
		if res.target == name && res.rate == rate {
			runs = append(runs, res)
		}
	}
	return runs
}

// meanThroughput returns the mean throughput of runs.
func meanThroughput(runs []runResult) float64 {
	if len(runs) == 0 {
		return 0
	}
	var sum float64
	for _, res := range runs {
		sum += res.throughput()
	}
	return sum / float64(len(runs))
}

// pooled sums runs into one: their requests, failures, CPU time and every
// latency.
func pooled(runs []runResult) runResult {
	var p runResult
	p.failures = make(map[string]int)
	for _, res := range runs {
		p.target, p.rate = res.target, res.rate
		p.elapsed += res.elapsed
		p.sent += res.sent
		p.ok += res.ok
		p.cpu += res.cpu
		p.benchCPU += res.benchCPU
		p.otherCPU += res.otherCPU
		p.peakInFlight = max(p.peakInFlight, res.peakInFlight)
		p.latencies = append(p.latencies, res.latencies...)
		for kind, n := range res.failures {
			p.failures[kind] += n
		}
	}
	return p
}

// failed returns the number of requests without a code.
func (r runResult) failed() int { return r.sent - r.ok }

// latencyPercentiles returns p50, p99 and p99.9 of the run's latencies.
func (r runResult) latencyPercentiles() ([]time.Duration, error) {
	return percentiles(slices.Clone(r.latencies), 0.50, 0.99, 0.999)
}

// summary is a one-line description of a run for the progress output.
func (r runResult) summary() string {
	noise := fmt.Sprintf("; other processes used %.2f cores", r.otherCores())
	if r.rate == 0 {
		return fmt.Sprintf("%s max throughput %.0f req/s, %d failed, %s CPU per request",
			r.target, r.throughput(), r.failed(), formatMicros(r.cpuPerRequest())) + noise
	}
	text := fmt.Sprintf("%s at %d req/s: %.0f req/s achieved, %d failed, at most %d in flight", r.target, r.rate, r.throughput(), r.failed(), r.peakInFlight)
	if p, err := r.latencyPercentiles(); err == nil {
		text += fmt.Sprintf(", p50 %s, p99 %s, p99.9 %s", formatMillis(p[0]), formatMillis(p[1]), formatMillis(p[2]))
	}
	return text + noise
}

// Results of a goal.
const (
	resultMet          = "met"
	resultNotMet       = "not met"
	resultInconclusive = "inconclusive"
)

// goalResult is one line of the "Targets" table.
type goalResult struct {
	name     string
	measured string
	result   string
}

// verdict returns resultMet or resultNotMet.
func verdict(met bool) string {
	if met {
		return resultMet
	}
	return resultNotMet
}

func (r *report) goals() []goalResult {
	return []goalResult{r.throughputGoal(), r.latencyGoal(), r.tokenGoal(), r.memoryGoal(), r.failureGoal()}
}

func (r *report) throughputGoal() goalResult {
	g := goalResult{name: fmt.Sprintf("maximum throughput at least %.2f of the baseline's", goalThroughputRatio)}
	base, c2 := meanThroughput(r.selectRuns(nameBaseline, 0)), meanThroughput(r.selectRuns(nameC2cauth, 0))
	if base == 0 {
		g.measured, g.result = "no baseline throughput", resultInconclusive
		return g
	}
	ratio := c2 / base
	g.measured = fmt.Sprintf("%.2f (%.0f / %.0f req/s)", ratio, c2, base)
	g.result = verdict(ratio >= goalThroughputRatio)
	return g
}

// latencyGoal compares p99 at goalP99Rate. The comparison holds only
// when the baseline kept to the rate in every round: when it fell behind,
// the machine was too busy to say anything about c2cauth.
func (r *report) latencyGoal() goalResult {
	g := goalResult{name: fmt.Sprintf("p99 overhead at most %s at %d req/s", formatMillis(goalP99Overhead), goalP99Rate)}
	overhead, err := r.overhead(goalP99Rate)
	if err != nil {
		g.measured, g.result = "not measured: "+err.Error(), resultInconclusive
		return g
	}
	g.measured = formatSignedMillis(overhead[1])
	switch {
	case !allHeld(r.selectRuns(nameBaseline, goalP99Rate)):
		g.measured += "; the baseline fell behind the rate, so the machine was too busy to tell"
		g.result = resultInconclusive
	case !allHeld(r.selectRuns(nameC2cauth, goalP99Rate)):
		g.measured += "; c2cauth fell behind the rate while the baseline kept it"
		g.result = resultNotMet
	default:
		g.result = verdict(overhead[1] <= goalP99Overhead)
	}
	return g
}

func (r *report) tokenGoal() goalResult {
	g := goalResult{name: fmt.Sprintf("exactly one token request per process per token lifetime (%s)", formatHours(emulatorTokenTTL))}
	met := true
	var counts []string
	for _, name := range []string{nameC2cauth, nameBaseline} {
		n := r.resources[name].tokenRequests
		counts = append(counts, fmt.Sprintf("%s %d", name, n))
		met = met && n == 1
	}
	g.measured, g.result = strings.Join(counts, ", "), verdict(met)
	return g
}

func (r *report) memoryGoal() goalResult {
	rss := r.resources[nameC2cauth].peakRSS
	return goalResult{
		name:     fmt.Sprintf("c2cauth peak RSS at most %s", formatMiB(goalPeakRSS)),
		measured: formatMiB(rss),
		result:   verdict(rss > 0 && rss <= goalPeakRSS),
	}
}

func (r *report) failureGoal() goalResult {
	failed := 0
	for _, res := range r.runs {
		failed += res.failed()
	}
	return goalResult{name: "every measured request got a code", measured: fmt.Sprintf("%d failed", failed), result: verdict(failed == 0)}
}

// allHeld reports whether every run kept to its rate.
func allHeld(runs []runResult) bool {
	for _, res := range runs {
		if !res.held() {
			return false
		}
	}
	return len(runs) > 0
}

// overhead returns c2cauth's p50, p99 and p99.9 latency minus the
// baseline's at rate, over all rounds.
func (r *report) overhead(rate int) ([]time.Duration, error) {
	base, err := pooled(r.selectRuns(nameBaseline, rate)).latencyPercentiles()
	if err != nil {
		return nil, fmt.Errorf("no baseline run at %d req/s", rate)
	}
	c2, err := pooled(r.selectRuns(nameC2cauth, rate)).latencyPercentiles()
	if err != nil {
		return nil, fmt.Errorf("no c2cauth run at %d req/s", rate)
	}
	return []time.Duration{c2[0] - base[0], c2[1] - base[1], c2[2] - base[2]}, nil
}

func (r *report) markdown() string {
	var b strings.Builder
	r.writeSetup(&b)
	r.writeThroughput(&b)
	r.writeLatency(&b)
	r.writeResources(&b)
	r.writeTargets(&b)
	return b.String()
}

func (r *report) writeSetup(b *strings.Builder) {
	s := r.settings
	fmt.Fprintf(b, "# c2cauth benchmark\n\n")
	rounds := "rounds"
	if s.rounds == 1 {
		rounds = "round"
	}
	fmt.Fprintf(b, "Run of `go run ./bench` started %s, with %d %s. Each round has a closed-loop run of %s with %d workers per backend, and fixed-rate runs of %s at %s requests a second per target.\n\n",
		r.started.UTC().Format("2006-01-02 15:04 MST"), s.rounds, rounds, s.maxDuration, s.workers, s.fixedDuration, joinInts(s.rates))
	fmt.Fprintf(b, "Machine: %d cores, %s, %s, load average %s at the start.\n\n", r.machine.cores, r.machine.cpuModel, r.machine.goVersion, r.machine.loadAvg)
	b.WriteString("Everything runs on 127.0.0.1 and shares the machine's cores: the load generator (vegeta) and one Live Hub emulator per target in the bench process, and each backend in its own process. The figures therefore measure the whole local stack, not a backend alone. The machine is shared with other work, so they vary from run to run; the \"other processes\" columns show how many cores that work kept busy during each run.\n\n")
	b.WriteString("- **baseline**: the bare backend of `bench/baseline.go`, which holds a cached access token, makes one Live Hub call and returns the code, with no sign-in, origin check, limit or log.\n")
	b.WriteString("- **c2cauth**: `c2cauth serve` as a production site runs it: `--auth jwt` with a static ES256 key, `--allowed-origins https://www.example.com`, limits of 1000000/1s that are never reached, `--caller-phone off`, JSON logs to a file, and /metrics.\n")
	fmt.Fprintf(b, "- **%s**: the load generator calls the generate endpoint of an emulator directly, which is the floor that no backend can go below.\n\n", nameFloor)
	b.WriteString("Both backends receive the same request: `POST /v1/auth-code` with `{}`, an ES256 bearer token, `Origin` and `Sec-Fetch-Site: cross-site`. The targets alternate run by run, and every second round takes them in reverse order, so that a slow drift of the machine's speed affects all alike.\n\n")
}

func (r *report) writeThroughput(b *strings.Builder) {
	fmt.Fprintf(b, "## Maximum throughput\n\nClosed loop: %d workers each send the next request as soon as the last is answered, for %s. Backend CPU is the backend process's user and system time per successful request; stack CPU adds the bench process (load generator and emulator). The last column is the mean number of cores that processes outside the benchmark kept busy meanwhile.\n\n", r.settings.workers, r.settings.maxDuration)
	b.WriteString("| backend |")
	for round := range r.settings.rounds {
		fmt.Fprintf(b, " round %d |", round+1)
	}
	b.WriteString(" mean | failed | backend CPU per request | stack CPU per request | other processes |\n|---|")
	b.WriteString(strings.Repeat("---:|", r.settings.rounds+5))
	b.WriteString("\n")
	for _, name := range []string{nameBaseline, nameC2cauth} {
		runs := r.selectRuns(name, 0)
		fmt.Fprintf(b, "| %s |", name)
		for _, res := range runs {
			fmt.Fprintf(b, " %.0f |", res.throughput())
		}
		all := pooled(runs)
		fmt.Fprintf(b, " **%.0f req/s** | %d | %s | %s | %.2f cores |\n",
			meanThroughput(runs), all.failed(), formatMicros(all.cpuPerRequest()), formatMicros(all.stackCPUPerRequest()), all.otherCores())
	}

	baseRuns, c2Runs := r.selectRuns(nameBaseline, 0), r.selectRuns(nameC2cauth, 0)
	base, c2 := pooled(baseRuns), pooled(c2Runs)
	if meanThroughput(baseRuns) == 0 || c2.stackCPUPerRequest() == 0 {
		return
	}
	fmt.Fprintf(b, "\nc2cauth / baseline: **%.2f** measured. ", meanThroughput(c2Runs)/meanThroughput(baseRuns))
	fmt.Fprintf(b, "When the stack alone has the cores, throughput is the inverse of stack CPU per request, which other processes disturb less: by that measure the ratio is %.2f, and c2cauth adds %s of backend CPU to each request.\n\n",
		float64(base.stackCPUPerRequest())/float64(c2.stackCPUPerRequest()), formatMicros(c2.cpuPerRequest()-base.cpuPerRequest()))
}

func (r *report) writeLatency(b *strings.Builder) {
	fmt.Fprintf(b, "## Latency at fixed rates\n\nOpen loop at a constant rate for %s a round, with at most %d requests in flight. Percentiles are exact, over every request of all rounds, and the p99 of each round follows. The load generator measures latency from sending a request to reading the whole response. \"%s\" is the load generator calling the emulator's generate endpoint directly: the Live Hub round trip with no backend, the floor.\n\n",
		r.settings.fixedDuration, maxOpenLoopWorkers, nameFloor)
	b.WriteString("| rate | target | achieved | failed | most in flight | p50 | p99 | p99.9 | p99 by round | backend CPU per request | other processes |\n|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	for _, rate := range r.settings.rates {
		for _, name := range []string{nameFloor, nameBaseline, nameC2cauth} {
			runs := r.selectRuns(name, rate)
			all := pooled(runs)
			p, err := all.latencyPercentiles()
			if err != nil {
				continue
			}
			var byRound []string
			for _, res := range runs {
				if q, err := res.latencyPercentiles(); err == nil {
					byRound = append(byRound, fmt.Sprintf("%.1f", float64(q[1])/float64(time.Millisecond)))
				}
			}
			cpu := formatMicros(all.cpuPerRequest())
			if name == nameFloor {
				cpu = "–"
			}
			fmt.Fprintf(b, "| %d req/s | %s | %.0f req/s | %d | %d | %s | %s | %s | %s ms | %s | %.2f cores |\n",
				rate, name, all.throughput(), all.failed(), all.peakInFlight, formatMillis(p[0]), formatMillis(p[1]), formatMillis(p[2]),
				strings.Join(byRound, ", "), cpu, all.otherCores())
		}
	}

	b.WriteString("\nOverhead of c2cauth over the baseline (c2cauth minus baseline), and of the baseline over the floor:\n\n| rate | p50 | p99 | p99.9 | backend CPU per request | baseline minus floor, p50 |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, rate := range r.settings.rates {
		overhead, err := r.overhead(rate)
		if err != nil {
			continue
		}
		cpu := pooled(r.selectRuns(nameC2cauth, rate)).cpuPerRequest() - pooled(r.selectRuns(nameBaseline, rate)).cpuPerRequest()
		floorGap := "–"
		base, errBase := pooled(r.selectRuns(nameBaseline, rate)).latencyPercentiles()
		floor, errFloor := pooled(r.selectRuns(nameFloor, rate)).latencyPercentiles()
		if errBase == nil && errFloor == nil {
			floorGap = formatSignedMillis(base[0] - floor[0])
		}
		fmt.Fprintf(b, "| %d req/s | %s | %s | %s | %s | %s |\n", rate, formatSignedMillis(overhead[0]), formatSignedMillis(overhead[1]), formatSignedMillis(overhead[2]), formatSignedMicros(cpu), floorGap)
	}
	b.WriteString("\n")
	r.writeFailures(b)
}

// writeFailures lists why requests failed, when any did.
func (r *report) writeFailures(b *strings.Builder) {
	var lines []string
	for _, res := range r.runs {
		for _, kind := range slices.Sorted(maps.Keys(res.failures)) {
			rate := "max"
			if res.rate > 0 {
				rate = fmt.Sprintf("%d req/s", res.rate)
			}
			lines = append(lines, fmt.Sprintf("- %s at %s: %d × %s\n", res.target, rate, res.failures[kind], kind))
		}
	}
	if len(lines) > 0 {
		b.WriteString("Failed requests:\n\n" + strings.Join(lines, "") + "\n")
	}
}

func (r *report) writeResources(b *strings.Builder) {
	fmt.Fprintf(b, "## Resources\n\nRead after the runs, once the load generator had closed its connections and %s had passed. Token and generate requests are counted by each backend's emulator over the whole benchmark, warm-up included.\n\n", settleTime)
	b.WriteString("| backend | token requests | generate requests | peak RSS (VmHWM) | goroutines |\n|---|---:|---:|---:|---:|\n")
	for _, name := range []string{nameBaseline, nameC2cauth} {
		res := r.resources[name]
		goroutines := fmt.Sprintf("%d (from %s)", res.goroutines, res.goroutinesSource)
		if res.scrapeErr != nil {
			goroutines = "not read: " + res.scrapeErr.Error()
		}
		fmt.Fprintf(b, "| %s | %d | %d | %s | %s |\n", name, res.tokenRequests, res.generateRequests, formatMiB(res.peakRSS), goroutines)
	}
	c2 := r.resources[nameC2cauth]
	if c2.scrapeErr == nil {
		fmt.Fprintf(b, "\nc2cauth's /metrics returned 200 with %d bytes of Prometheus text.", c2.scrapeBytes)
	} else {
		fmt.Fprintf(b, "\nc2cauth's /metrics could not be scraped: %v.", c2.scrapeErr)
	}
	fmt.Fprintf(b, " Its JSON log has %d lines (%.1f MiB): %d \"auth code issued\" events and %d warnings or errors.\n\n",
		r.log.lines, float64(r.log.bytes)/(1<<20), r.log.issued, r.log.warnings)
}

func (r *report) writeTargets(b *strings.Builder) {
	b.WriteString("## Targets\n\n| target | measured | result |\n|---|---|---|\n")
	for _, g := range r.goals() {
		fmt.Fprintf(b, "| %s | %s | **%s** |\n", g.name, g.measured, g.result)
	}
}

func joinInts(values []int) string {
	text := make([]string, len(values))
	for i, v := range values {
		text[i] = fmt.Sprint(v)
	}
	return strings.Join(text, ", ")
}

func formatMillis(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func formatSignedMillis(d time.Duration) string {
	return fmt.Sprintf("%+.3f ms", float64(d)/float64(time.Millisecond))
}

func formatMicros(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func formatSignedMicros(d time.Duration) string {
	return fmt.Sprintf("%+.0f µs", float64(d)/float64(time.Microsecond))
}

func formatHours(d time.Duration) string {
	return fmt.Sprintf("%g h", d.Hours())
}

func formatMiB(bytes int64) string {
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}
