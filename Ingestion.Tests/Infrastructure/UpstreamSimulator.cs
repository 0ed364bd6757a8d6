using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// The upstream API simulator (<c>infra/simulator/server.js</c>) as a process of its own, on a free
/// loopback port, configured for one test: the API a source syncs from. Disposing kills it.
/// </summary>
public sealed class UpstreamSimulator : IAsyncDisposable
{
    private static readonly JsonSerializerOptions ConfigJson = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly JsonSerializerOptions StatsJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly Process _process;
    private readonly HttpClient _control;

    private UpstreamSimulator(Process process, Uri baseUrl, string logPath)
    {
        _process = process;
        BaseUrl = baseUrl;
        LogPath = logPath;
        _control = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary><c>http://127.0.0.1:port/</c>: a source's base URL (the hosts must allow-list 127.0.0.1).</summary>
    public Uri BaseUrl { get; }

    public int Port => BaseUrl.Port;

    public string LogPath { get; }

    public static async Task<UpstreamSimulator> StartAsync(SimulatorConfig? config = null)
    {
        var configPath = Path.Combine(Path.GetTempPath(), $"simulator-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(config ?? new SimulatorConfig(), ConfigJson));
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { Path.Combine(Repository.Root, "infra", "simulator", "server.js"), "--host", "127.0.0.1", "--port", "0", "--config", configPath })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var logPath = Path.Combine(Repository.LogDirectory, $"simulator-{process.Id}.log");
        var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        // The first line names the address it listens on; everything it writes goes to the log.
        const string Prefix = "simulator listening on ";
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            Write(log, e.Data);
            if (e.Data?.StartsWith(Prefix, StringComparison.Ordinal) == true)
            {
                listening.TrySetResult(e.Data[Prefix.Length..].Trim());
            }
        };
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"The simulator exited; see {logPath}."));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(20));
            return new UpstreamSimulator(process, new Uri(address + "/"), logPath);
        }
        catch
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            process.Dispose();
            throw;
        }
        finally
        {
            File.Delete(configPath);
        }
    }

    /// <summary>Replaces the configuration and resets everything: budgets, cursors, counts, appended events.</summary>
    public async Task ReconfigureAsync(SimulatorConfig config)
    {
        using var response = await _control.PostAsync("_sim/config",
            new StringContent(JsonSerializer.Serialize(config, ConfigJson), System.Text.Encoding.UTF8, "application/json"));
        await EnsureSuccessAsync(response);
    }

    /// <summary>Adds <paramref name="count"/> events newer than all others, as a live API would.</summary>
    public async Task AppendAsync(int count)
    {
        using var response = await _control.PostAsJsonAsync("_sim/append", new { count });
        await EnsureSuccessAsync(response);
    }

    /// <summary>The events the listing serves twice (<see cref="SimulatorConfig.Repeats"/>): where, and their ids.</summary>
    public async Task<IReadOnlyList<SimulatorRepeat>> RepeatedAsync()
    {
        using var response = await _control.GetAsync("_sim/config");
        await EnsureSuccessAsync(response);
        var config = await response.Content.ReadFromJsonAsync<JsonElement>();
        return config.GetProperty("repeated").Deserialize<List<SimulatorRepeat>>(ConfigJson)!;
    }

    public async Task<SimulatorStats> StatsAsync()
    {
        using var response = await _control.GetAsync("_sim/stats");
        await EnsureSuccessAsync(response);
        return (await response.Content.ReadFromJsonAsync<SimulatorStats>(StatsJson))!;
    }

    public async Task ResetStatsAsync()
    {
        using var response = await _control.PostAsync("_sim/stats/reset", null);
        await EnsureSuccessAsync(response);
    }

    public async ValueTask DisposeAsync()
    {
        _control.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"The simulator answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }
}

/// <summary>
/// The simulator's configuration (see the head of <c>infra/simulator/server.js</c>); unset members
/// take the simulator's defaults. <see cref="Policies"/> are the documented limits per auth method,
/// <see cref="Enforced"/> the real ones when lower.
/// </summary>
public sealed record SimulatorConfig
{
    public int Events { get; init; } = 10_000;

    public int Seed { get; init; } = 42;

    /// <summary>The events' times are spread over [Start, End), ISO 8601.</summary>
    public string? Start { get; init; }

    public string? End { get; init; }

    public int PageSizeCap { get; init; } = 5000;

    public int DefaultPageSize { get; init; } = 100;

    /// <summary>The accepted API keys; empty accepts any.</summary>
    public IReadOnlyList<string> Keys { get; init; } = [SimulatorConfig.Key];

    public SimulatorPolicies? Policies { get; init; }

    public SimulatorPolicies? Enforced { get; init; }

    /// <summary><c>fixed</c> or <c>sliding</c>.</summary>
    public string Window { get; init; } = "fixed";

    /// <summary><c>relative</c>, <c>epoch</c>, <c>ietf</c> or <c>none</c>.</summary>
    public string RateHeaders { get; init; } = "relative";

    /// <summary><c>seconds</c> or <c>date</c>.</summary>
    public string RetryAfter { get; init; } = "seconds";

    public SimulatorFaults? Faults { get; init; }

    public int CursorTtlSeconds { get; init; } = 120;

    public int CursorExpiredStatus { get; init; } = 400;

    /// <summary>Any of <c>iso</c>, <c>unix_s</c>, <c>unix_ms</c>, chosen per event; all three by default.</summary>
    public IReadOnlyList<string>? TimestampFormats { get; init; }

    public int LatencyMs { get; init; }

    /// <summary>Events that keep arriving while it runs, each newer than all before, as on a live API.</summary>
    public double ArrivalsPerSecond { get; init; }

    public int Accounts { get; init; } = 5;

    public int TransactionsPerAccount { get; init; } = 200;

    /// <summary>
    /// Positions of the listing that serve again the event <see cref="RepeatGap"/> positions older (seed 004's
    /// 3,000,003 versus 3,000,000): the total counts them, the distinct ids do not.
    /// </summary>
    public int Repeats { get; init; }

    public int RepeatGap { get; init; } = 1;

    /// <summary>The key the default configuration accepts.</summary>
    public const string Key = "sim-key";
}

public sealed record SimulatorPolicy(int Requests, int PerSeconds);

/// <summary>A position of the listing (0 = oldest) that serves the event at <paramref name="Of"/> again, and that event's id.</summary>
public sealed record SimulatorRepeat(int Position, int Of, string Id);

public sealed record SimulatorPolicies(IReadOnlyList<SimulatorPolicy>? Header = null, IReadOnlyList<SimulatorPolicy>? Query = null);

public sealed record SimulatorFaults(double Http500 = 0, double Http503 = 0);

/// <summary>
/// What the simulator counted since its last reset. <see cref="OverPolicy"/>: requests that arrived
/// beyond the documented policy of their credential (a well-paced client has none). <see cref="FirstRequestMs"/> and
/// <see cref="LastAnsweredMs"/>: Unix milliseconds of the first request's arrival and of the last answer's end (null before any).
/// </summary>
public sealed record SimulatorStats(
    long Requests,
    IReadOnlyDictionary<string, long> RequestsByCredential,
    long Http429,
    long Http5xx,
    long OverPolicy,
    IReadOnlyDictionary<string, long> OverPolicyByCredential,
    long Http401,
    long CursorExpired,
    long EventsServed,
    long? FirstRequestMs = null,
    long? LastAnsweredMs = null);
