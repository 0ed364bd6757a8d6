using System.Net.Http.Headers;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// The whole service on real servers: an API process and worker processes, configured
/// for one <see cref="Sandbox"/>.
/// </summary>
public sealed class Deployment : IAsyncDisposable
{
    private readonly Dictionary<string, string> _settings;
    private readonly List<HostProcess> _workers = [];

    private Deployment(Sandbox ns, Dictionary<string, string> settings)
    {
        Sandbox = ns;
        _settings = settings;
    }

    public Sandbox Sandbox { get; }

    public HostProcess Api { get; private set; } = null!;

    public IReadOnlyList<HostProcess> Workers => _workers;

    public IReadOnlyDictionary<string, string> Settings => _settings;

    /// <param name="settings">Configuration on top of the sandbox's, as environment variables (<c>Section__Key</c>).</param>
    /// <param name="postgresPort">Where the hosts reach PostgreSQL instead of its own port: a relay the test can cut.</param>
    public static async Task<Deployment> StartAsync(Servers servers, string name, IReadOnlyDictionary<string, string>? settings = null,
        int workers = 1, int? postgresPort = null)
    {
        var ns = await Sandbox.CreateAsync(servers, name + "_" + Guid.NewGuid().ToString("N")[..8]);
        var all = new Dictionary<string, string>(ns.Settings)
        {
            // The same code compiled quickly first: a worker is built without tiered compilation (its hot loops optimized
            // from the first row, see Ingestion.Workers.csproj), so each of the suite's many workers compiled its start-up
            // and its first jobs' code fully optimized, for small files that never make it hot. A test that measures a
            // worker sets "0" (When_rejected_records_are_huge, make bench-rejects); the other benches, make run and the
            // image start workers through HostProcess or as built, without this.
            ["DOTNET_TieredCompilation"] = "1",
        };
        if (postgresPort is { } port)
        {
            all["ConnectionStrings__Postgres"] = new Npgsql.NpgsqlConnectionStringBuilder(ns.ConnectionString)
            {
                Host = "127.0.0.1",
                Port = port,
            }.ConnectionString;
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            all[key] = value;
        }

        // The API starts beside the workers; the first worker declares the queues before the others start.
        var stack = new Deployment(ns, all);
        var api = HostProcess.StartAsync("Ingestion.Api", $"{name}-api", all);
        var started = HostProcess.StartWorkersAsync($"{name}-worker", workers, all);
        await Task.WhenAll(api, started);
        stack.Api = await api;
        stack._workers.AddRange(await started);
        return stack;
    }

    public HttpClient Client(string apiKey)
    {
        var client = new HttpClient { BaseAddress = Api.Url, Timeout = TimeSpan.FromMinutes(5) };
        client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return client;
    }

    public async Task<HostProcess> StartWorkerAsync(IReadOnlyDictionary<string, string>? settings = null)
    {
        var all = new Dictionary<string, string>(_settings);
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            all[key] = value;
        }

        var worker = await HostProcess.StartAsync("Ingestion.Workers", $"{Sandbox.Name}-worker{_workers.Count}", all);
        _workers.Add(worker);
        return worker;
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_workers.Append(Api).Where(h => h is not null).Select(h => h.DisposeAsync().AsTask()));
        await Sandbox.DisposeAsync();
    }

    /// <summary>
    /// Waits until a one-stream upload job's checkpoint counts at least <paramref name="atLeast"/> rows, and says how many:
    /// the moment a kill test kills its worker.
    /// </summary>
    public async Task<long> WaitForRowsLoadedAsync(Guid jobId, long atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            var loaded = await Sandbox.ScalarAsync<long?>("select rows_loaded from ingestion.upload_checkpoints where job_id = @id", ("id", jobId)) ?? 0;
            if (loaded >= atLeast)
            {
                return loaded;
            }

            await Task.Delay(5);
        }

        Assert.Fail($"fewer than {atLeast} rows were loaded within 120 s");
        return 0;
    }
}
