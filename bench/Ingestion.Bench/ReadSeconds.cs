using System.Data;
using System.Globalization;
using Ingestion.Tests.Infrastructure;
using Npgsql;

namespace Ingestion.Bench;

/// <summary>
/// What happened in each second of an open-loop run, so that a p99 spike can be explained rather than
/// guessed at: once a second it samples the API (its GC pauses and collections and thread pool, from its runtime
/// counters over EventPipe: <see cref="RuntimeCounters"/>), its read connections in use and open (from
/// <c>pg_stat_activity</c>), PostgreSQL (the checkpointer's state, autovacuum workers and
/// what they run, checkpoints completed) and the bench client itself (its GC pauses, how late it sent).
/// A second's requests are those <em>due</em> in it; a client that sends late shows as send lag, not as the
/// server's latency alone.
/// </summary>
internal sealed class ReadSeconds : IAsyncDisposable
{
    /// <summary>
    /// The checkpointer's and autovacuum's activity are visible with <c>pg_read_all_stats</c> (infra/up.sh grants it).
    /// <paramref name="checkpoints"/> counts the checkpoints done: PostgreSQL 17 moved them from <c>pg_stat_bgwriter</c> to
    /// <c>pg_stat_checkpointer</c>.
    /// </summary>
    private static string PostgresSql(string checkpoints) => $"""
        select ({checkpoints}),
               (select case when pg_has_role('pg_read_all_stats', 'member') then coalesce(wait_event, 'working')
                            else 'unknown (no pg_read_all_stats)' end
                from pg_stat_activity where backend_type = 'checkpointer'),
               (select string_agg(coalesce(nullif(query, ''), 'autovacuum launching'), '; ') from pg_stat_activity
                where backend_type = 'autovacuum worker'),
               (select count(*) from pg_stat_activity where backend_type = 'client backend' and state = 'active'),
               (select count(*) from pg_stat_activity where datname = current_database() and application_name like '%-reads'
                and state <> 'idle'),
               (select count(*) from pg_stat_activity where datname = current_database() and application_name like '%-reads')
        """;

    private const string CheckpointsBefore17 = "select checkpoints_timed + checkpoints_req from pg_stat_bgwriter";
    private const string Checkpoints = "select num_timed + num_requested from pg_stat_checkpointer";

    private readonly List<Sample> _samples = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampling;

    private ReadSeconds(Sandbox sandbox, HostProcess api, DateTimeOffset start, bool sample)
    {
        Start = start;
        _sampling = sample ? Task.Run(() => SampleAsync(sandbox, api)) : Task.CompletedTask;
    }

    public DateTimeOffset Start { get; }

    /// <summary>
    /// Starts the minute's record. With <paramref name="sample"/> the API's runtime counters and PostgreSQL are sampled
    /// every second. It was off by default while the sample was a scrape of the API's <c>/metrics</c>, which made its
    /// collections come in bursts (p99 502 and 760 ms with it, 29 ms without, same code, quiet machine); the
    /// counters now come over EventPipe and the pool from PostgreSQL, which costs the API a few events a second.
    /// Without it the slowest second is still found, from the client's own latencies.
    /// </summary>
    public static ReadSeconds Begin(Sandbox sandbox, HostProcess api, bool sample) => new(sandbox, api, DateTimeOffset.UtcNow, sample);

    /// <summary>One sample: cumulative counters (differences give a second's events) and instantaneous states.</summary>
    private sealed record Sample(double At, double ApiGcPauseMs, string ApiCollections, double ApiThreadPoolQueue, double ApiThreads,
        double ReadPoolUsed, double ReadPoolOpen, double ClientGcPauseMs, string ClientCollections, long Checkpoints,
        string Checkpointer, string? Autovacuum, long ActiveBackends);

    /// <summary>
    /// A sample that fails (an API too busy to answer, a PostgreSQL query that errs or a connection lost) is logged and
    /// skipped: the next one spans the gap. The sampler explains a run; it must not end it.
    /// </summary>
    private async Task SampleAsync(Sandbox sandbox, HostProcess api)
    {
        NpgsqlConnection? connection = null;
        RuntimeCounters? counters = null;
        try
        {
            counters = RuntimeCounters.Attach(api.Pid);
        }
        catch (Exception e)
        {
            // Diagnostics off in the API, or another temporary directory: the run goes on without its runtime counters.
            Bench.Log($"no runtime counters from the API (pid {api.Pid}): {e.Message}");
        }

        using var attached = counters;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            do
            {
                var at = (DateTimeOffset.UtcNow - Start).TotalSeconds;
                PostgresSample postgres;
                try
                {
                    connection ??= await sandbox.Db.OpenConnectionAsync();
                    postgres = await SamplePostgresAsync(connection);
                }
                catch (NpgsqlException e)
                {
                    Bench.Log($"no PostgreSQL sample at {Bench.F(at, 0)} s: {e.Message}");
                    if (connection is { State: not ConnectionState.Open })
                    {
                        // A broken connection stays broken: the next sample opens another.
                        await connection.DisposeAsync();
                        connection = null;
                    }

                    continue;
                }

                var runtime = counters?.Snapshot() ?? (0, "-", 0, 0);
                lock (_samples)
                {
                    _samples.Add(new Sample(at, runtime.PauseMs, runtime.Collections, runtime.Queue, runtime.Threads,
                        postgres.ReadPoolUsed, postgres.ReadPoolOpen,
                        GC.GetTotalPauseDuration().TotalMilliseconds,
                        $"{GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}",
                        postgres.Checkpoints, postgres.Checkpointer, postgres.Autovacuum, postgres.ActiveBackends));
                }
            }
            while (await WaitAsync(timer));
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <param name="ReadPoolUsed">The API's read connections not idle (running a query or in a transaction).</param>
    private sealed record PostgresSample(long Checkpoints, string Checkpointer, string? Autovacuum, long ActiveBackends, long ReadPoolUsed,
        long ReadPoolOpen);

    private static async Task<PostgresSample> SamplePostgresAsync(NpgsqlConnection connection)
    {
        var checkpoints = connection.PostgreSqlVersion.Major >= 17 ? Checkpoints : CheckpointsBefore17;
        await using var command = new NpgsqlCommand(PostgresSql(checkpoints), connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new PostgresSample(reader.GetInt64(0), reader.IsDBNull(1) ? "none" : reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5));
    }

    private async Task<bool> WaitAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sampling;
        _stop.Dispose();
    }

    /// <summary>
    /// Prints the worst second of the run (by its p99) and what happened in it, and logs every second whose p99
    /// passed <paramref name="slowMs"/>. <paramref name="latencies"/> and <paramref name="lags"/> are by request,
    /// in the order requests were due; <paramref name="startOffset"/> is when the first was due, after <see cref="Start"/>.
    /// </summary>
    public void Report(double[] latencies, double[] lags, int rate, double startOffset, double slowMs)
    {
        List<Sample> samples;
        lock (_samples)
        {
            samples = [.. _samples];
        }

        var seconds = (latencies.Length + rate - 1) / rate;
        var rows = new List<(int Second, double P99, double Max, double Lag, string Events)>();
        for (var s = 0; s < seconds; s++)
        {
            var slice = latencies.Skip(s * rate).Take(rate).Order().ToArray();
            var lag = lags.Skip(s * rate).Take(rate).DefaultIfEmpty().Max();
            rows.Add((s, slice[Math.Min(slice.Length - 1, (int)(0.99 * slice.Length))], slice[^1], lag, Events(samples, startOffset + s)));
        }

        var slow = rows.Where(r => r.P99 > slowMs).ToList();
        foreach (var row in slow)
        {
            Bench.Log($"slow second {row.Second} ({Start.AddSeconds(startOffset + row.Second):HH:mm:ss} UTC): p99 {Bench.F(row.P99)} ms, " +
                $"max {Bench.F(row.Max)} ms, client send lag max {Bench.F(row.Lag)} ms; {row.Events}");
        }

        var worst = rows.MaxBy(r => r.P99);
        Console.WriteLine($"read worst_second={worst.Second} at={Start.AddSeconds(startOffset + worst.Second):HH:mm:ss} " +
            $"p99_ms={Bench.F(worst.P99)} max_ms={Bench.F(worst.Max)} send_lag_max_ms={Bench.F(worst.Lag)} " +
            $"seconds_p99_over_{slowMs:0}ms={slow.Count}/{rows.Count} {worst.Events}");
    }

    /// <summary>What the samples around that second (from its start to one second after its end: a late request finishes later) saw.</summary>
    private static string Events(List<Sample> samples, double second)
    {
        var before = samples.LastOrDefault(s => s.At <= second) ?? samples.FirstOrDefault();
        var after = samples.FirstOrDefault(s => s.At >= second + 2) ?? samples.LastOrDefault();
        if (before is null || after is null)
        {
            return "(no samples)";
        }

        var during = samples.Where(s => s.At >= before.At && s.At <= after.At).ToList();
        var autovacuum = string.Join("; ", during.Select(s => s.Autovacuum).OfType<string>().Distinct());
        return $"api_gc_pause_ms={Bench.F(after.ApiGcPauseMs - before.ApiGcPauseMs)} api_gcs={before.ApiCollections}->{after.ApiCollections} " +
            $"api_threadpool_queue_max={during.Max(s => s.ApiThreadPoolQueue):0} api_threads={during.Max(s => s.ApiThreads):0} " +
            $"read_pool_used_max={during.Max(s => s.ReadPoolUsed):0} read_pool_open={before.ReadPoolOpen:0}->{after.ReadPoolOpen:0} " +
            $"client_gc_pause_ms={Bench.F(after.ClientGcPauseMs - before.ClientGcPauseMs)} client_gcs={before.ClientCollections}->{after.ClientCollections} " +
            $"pg_checkpoints_done={after.Checkpoints - before.Checkpoints} pg_checkpointer={string.Join(",", during.Select(s => s.Checkpointer).Distinct())} " +
            $"pg_active_max={during.Max(s => s.ActiveBackends)} pg_autovacuum={(autovacuum.Length == 0 ? "none" : "\"" + autovacuum + "\"")}";
    }
}
