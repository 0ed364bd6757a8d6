using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// One of the service's hosts (Ingestion.Api or Ingestion.Workers) running as its own
/// process, exactly as deployed: configured through environment variables, killable. It
/// listens on two ports: the public one (<see cref="Url"/>) and the management one
/// (<see cref="ManagementUrl"/>) for health checks and metrics.
/// </summary>
public sealed class HostProcess : IAsyncDisposable
{
    /// <summary>
    /// A runtime setting of the image's (<c>Dockerfile</c>) and <c>make run</c>'s environment that every host started here
    /// takes too, because a process cannot set it for itself: the JIT's freed memory the runtime keeps, about 1 MiB (the
    /// worker's <c>NativeHeap.JitSlabCache</c>; <c>Unit/Native_heap.cs</c> checks the four agree). The image's other
    /// one, <c>MALLOC_ARENA_MAX=2</c>, a worker applies to itself at start.
    /// </summary>
    public const string JitSlabCacheVariable = "DOTNET_JitHostMaxSlabCache";

    public const string JitSlabCache = "0x100000";

    private static readonly HttpClient Probe = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Process _process;

    private HostProcess(Process process, string name, int port, int managementPort, string logPath)
    {
        _process = process;
        Name = name;
        Port = port;
        ManagementPort = managementPort;
        LogPath = logPath;
    }

    public string Name { get; }

    public int Port { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}");

    public int ManagementPort { get; }

    /// <summary>Where <c>/health/*</c> and <c>/metrics</c> are served.</summary>
    public Uri ManagementUrl => new($"http://127.0.0.1:{ManagementPort}");

    public string LogPath { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// <paramref name="count"/> workers named <c>{prefix}0</c>, <c>{prefix}1</c>…, the first ready before the others start: it
    /// declares the sandbox's quorum queues. Two workers declaring and consuming a new quorum queue at once can meet RabbitMQ
    /// 3.10 before it knows the queue's leader, which crashes the channel of one (basic.consume, "leader not known"), and that
    /// worker's RabbitMQ client did not become ready in 90 s (a CI run, 2026-12-06).
    /// </summary>
    public static async Task<HostProcess[]> StartWorkersAsync(string prefix, int count, IReadOnlyDictionary<string, string> settings)
    {
        if (count == 0)
        {
            return [];
        }

        var first = await StartAsync("Ingestion.Workers", $"{prefix}0", settings);
        var rest = await Task.WhenAll(Enumerable.Range(1, count - 1).Select(i => StartAsync("Ingestion.Workers", $"{prefix}{i}", settings)));
        return [first, .. rest];
    }

    public static async Task<HostProcess> StartAsync(string project, string name, IReadOnlyDictionary<string, string> settings,
        bool waitUntilReady = true, string? logDirectory = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            var host = Launch(project, name, settings, logDirectory);
            if (!waitUntilReady)
            {
                return host;
            }

            try
            {
                await host.WaitUntilReadyAsync();
                return host;
            }
            catch (InvalidOperationException) when (attempt < 3 && host.Log().Contains("address already in use", StringComparison.Ordinal))
            {
                // Another process bound one of its ports between the pick and the host's bind: start it again on others.
                await host.DisposeAsync();
            }
        }
    }

    private static HostProcess Launch(string project, string name, IReadOnlyDictionary<string, string> settings, string? logDirectory)
    {
        var port = FreePorts.Next();
        var managementPort = FreePorts.Next();
        var logPath = Path.Combine(logDirectory ?? Repository.LogDirectory, $"{name}-{port}.log");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Repository.HostDll(project));
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Urls"] = $"http://127.0.0.1:{port}";
        start.Environment["Management__Urls"] = $"http://127.0.0.1:{managementPort}";
        start.Environment[JitSlabCacheVariable] = JitSlabCache; // as the image and make run start a host
        foreach (var (key, value) in settings)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new HostProcess(process, name, port, managementPort, logPath);
    }

    /// <summary>
    /// Waits for /health/ready on the management port, answered by this process: PostgreSQL, RabbitMQ and S3 answer and the
    /// bus's endpoints are up.
    /// </summary>
    public async Task WaitUntilReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                // Its last lines may still be in the pipes: waiting for the exit also waits for the output's end.
                _process.WaitForExit();
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}:\n{Tail()}");
            }

            try
            {
                using var response = await Probe.GetAsync(new Uri(ManagementUrl, "/health/ready"));
                if (response.IsSuccessStatusCode && ListensOnItsOwnPorts())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Slow to answer while starting.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{Name} was not ready after 90 s:\n{Tail()}");
    }

    /// <summary>SIGKILL: no shutdown, no cleanup, as when a container is OOM-killed.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    public string Tail(int lines = 60)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"(no log: {e.Message})";
        }
    }

    public string Log() => Tail(int.MaxValue);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
    }

    /// <summary>A graceful stop, as an orchestrator's: SIGTERM, then SIGKILL if the host has not exited within 15 s.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM first, as an orchestrator would.
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Kill();
            }
        }
    }

    /// <summary>
    /// Whether this process says it has bound both its ports: a ready answer alone may come from another process that holds
    /// the port this one failed to bind (it then exits). The host logs its addresses once every one of them is bound.
    /// </summary>
    private bool ListensOnItsOwnPorts()
    {
        var log = Log();
        return new[] { Url, ManagementUrl }.All(url =>
            Regex.IsMatch(log, $@"Now listening on: {Regex.Escape(url.GetLeftPart(UriPartial.Authority))}(?!\d)"));
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
