using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Bench;

/// <summary>
/// <c>make chaos</c>: two APIs and three workers on a three-node RabbitMQ cluster and a PostgreSQL of
/// the run's own, each host reaching them through TCP proxies of its own. For the given minutes a
/// steady mix of uploads (files of known good and bad rows), statements and retries of failed jobs
/// runs, while faults are injected at random: a worker SIGKILLed (and started again), a RabbitMQ node
/// stopped (and started again), PostgreSQL restarted, a host's connections to PostgreSQL or to the
/// broker cut for a few seconds. Then the faults stop, every job is given a grace period to end, each
/// failed job is retried once, and the outcome is checked: every job ended, every upload's table
/// holds exactly its good rows and its rejects file exactly its bad ones. Logs go to .data/chaos/.
/// </summary>
internal static class ChaosRun
{
    private const string Dataset = "chaos_rows";
    private static readonly string[] FinalStates = ["Completed", "Ready", "Failed", "Cancelled"];
    private static readonly (string Tenant, string Key)[] Tenants = [("acme", Keys.Acme), ("globex", Keys.Globex)];

    public static async Task<int> RunAsync(double minutes, TimeSpan grace, int seed)
    {
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            Chaos.Log("Ctrl-C: stopping everything the run started");
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        var run = new Chaos(seed);
        try
        {
            return await run.ExecuteAsync(minutes, grace, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 130;
        }
        finally
        {
            await run.DisposeAsync();
            Console.CancelKeyPress -= onCancel;
        }
    }

    private sealed record Upload(string FileId, string Tenant, int Good, IReadOnlySet<long> BadLines)
    {
        public Guid? JobId { get; set; }
    }

    private sealed class Worker(int index)
    {
        public int Index { get; } = index;

        public HostProcess? Process { get; set; }

        public int Starts { get; set; }
    }

    /// <summary>One host's way to the servers: a proxy to PostgreSQL and one to each RabbitMQ node.</summary>
    private sealed class Links(TcpProxy postgres, TcpProxy[] nodes) : IAsyncDisposable
    {
        public TcpProxy Postgres { get; } = postgres;

        public TcpProxy[] Nodes { get; } = nodes;

        public async ValueTask DisposeAsync()
        {
            await Postgres.DisposeAsync();
            foreach (var node in Nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    private sealed class Chaos(int seed) : IAsyncDisposable
    {
        private readonly Random _random = new(seed);
        private readonly string _directory = Path.Combine(Repository.Root, ".data", "chaos");
        private readonly ConcurrentDictionary<string, int> _faults = new();
        private readonly ConcurrentBag<Upload> _uploads = [];
        private readonly ConcurrentDictionary<Guid, string> _jobs = new();
        private readonly ConcurrentDictionary<Guid, int> _retries = new();
        private readonly List<HostProcess> _apis = [];
        private readonly List<Worker> _workers = [];
        private readonly Dictionary<string, Links> _links = [];
        private readonly List<Task> _background = [];
        private Sandbox? _sandbox;
        private StreamWriter? _faultLog;
        private bool _clusterUp;
        private bool _postgresUp;
        private int _nodeDown;
        private int _postgresRestarting;
        private DateTime _lastPostgresRestart;
        private int _refused;
        private int _statements;
        private string _nodes = "";

        public static void Log(string message) => Console.Error.WriteLine($"[chaos {DateTime.UtcNow:HH:mm:ss}] {message}");

        public async Task<int> ExecuteAsync(double minutes, TimeSpan grace, CancellationToken stop)
        {
            Directory.CreateDirectory(_directory);
            var logs = Path.Combine(_directory, "logs");
            if (Directory.Exists(logs))
            {
                Directory.Delete(logs, recursive: true);
            }

            Directory.CreateDirectory(logs);
            _faultLog = new StreamWriter(Path.Combine(_directory, "faults.log"), append: false) { AutoFlush = true };

            // S3 is the worktree's own s3rver; PostgreSQL and RabbitMQ are the run's own.
            var servers = await NativeServers.StartAsync();
            _postgresUp = true;
            await Infra("chaos-postgres.sh", "up");
            var pgPort = int.Parse((await Infra("chaos-postgres.sh", "port")).Trim(), CultureInfo.InvariantCulture);
            Log("forming the three-node RabbitMQ cluster (about a minute)");
            _clusterUp = true;
            await Infra("cluster.sh", "up");
            var ports = (await Infra("cluster.sh", "ports")).Trim().Split(' ').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
            _nodes = ports["nodes"];
            var nodePorts = _nodes.Split(',').Select(n => int.Parse(n.Split(':')[1], CultureInfo.InvariantCulture)).ToArray();
            var managementPorts = ports["management"].Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();

            var chaosServers = servers with
            {
                PostgresPort = pgPort,
                RabbitPort = nodePorts[0],
                RabbitManagementPort = managementPorts[0],
            };
            _sandbox = await Sandbox.CreateAsync(chaosServers, "chaos_" + DateTime.UtcNow.ToString("MMddHHmm", CultureInfo.InvariantCulture));
            var baseSettings = new Dictionary<string, string>(_sandbox.Settings)
            {
                ["Processing__BatchRows"] = "500",
                ["Processing__SliceDuration"] = "00:00:03",
            };

            Log("starting two APIs and three workers");
            for (var i = 1; i <= 2; i++)
            {
                _apis.Add(await HostProcess.StartAsync("Ingestion.Api", $"api{i}", SettingsFor($"api{i}", baseSettings, pgPort, nodePorts), logDirectory: logs));
            }

            for (var i = 1; i <= 3; i++)
            {
                var worker = new Worker(i);
                _workers.Add(worker);
                await StartWorkerAsync(worker, baseSettings, pgPort, nodePorts, wait: true);
            }

            await RegisterDatasetsAsync();
            await PrintQueueTypesAsync();

            Log($"load and faults for {minutes} minute(s)");
            var clock = Stopwatch.StartNew();
            using (var faultsOver = CancellationTokenSource.CreateLinkedTokenSource(stop))
            {
                faultsOver.CancelAfter(TimeSpan.FromMinutes(minutes));
                await Task.WhenAll(
                    LoadAsync(faultsOver.Token),
                    StatementsAsync(faultsOver.Token),
                    RetriesAsync(faultsOver.Token),
                    InjectAsync(baseSettings, pgPort, nodePorts, faultsOver.Token));
            }

            stop.ThrowIfCancellationRequested();
            Log("faults stop; restoring every link, node and worker");
            await Task.WhenAll(_background);
            foreach (var links in _links.Values)
            {
                links.Postgres.Restore();
                foreach (var node in links.Nodes)
                {
                    node.Restore();
                }
            }

            foreach (var worker in _workers.Where(w => w.Process is null || w.Process.HasExited))
            {
                await StartWorkerAsync(worker, baseSettings, pgPort, nodePorts, wait: true);
            }

            Log($"grace period: up to {grace.TotalSeconds:F0} s for every job to end");
            await WaitForAllToEndAsync(grace, stop);
            var failed = await QueryAsync("select job_id, tenant_id from ingestion.jobs where current_state = 'Failed'", stop);
            if (failed.Count > 0)
            {
                Log($"retrying the {failed.Count} failed job(s) once");
                foreach (var row in failed)
                {
                    await RetryAsync((Guid)row[0], (string)row[1], stop);
                }

                await Task.Delay(TimeSpan.FromSeconds(2), stop);
                await WaitForAllToEndAsync(grace, stop);
            }

            return await VerifyAsync(minutes, clock.Elapsed, stop);
        }

        private Dictionary<string, string> SettingsFor(string host, Dictionary<string, string> baseSettings, int pgPort, int[] nodePorts)
        {
            if (!_links.TryGetValue(host, out var links))
            {
                links = new Links(new TcpProxy("127.0.0.1", pgPort), nodePorts.Select(p => new TcpProxy("127.0.0.1", p)).ToArray());
                _links[host] = links;
            }

            var settings = new Dictionary<string, string>(baseSettings)
            {
                ["ConnectionStrings__Postgres"] = _sandbox!.Servers.PostgresConnectionString(_sandbox.Database)
                    .Replace($"Port={pgPort}", $"Port={links.Postgres.Port}", StringComparison.Ordinal),
                ["RabbitMq__Host"] = "127.0.0.1",
                ["RabbitMq__Port"] = links.Nodes[0].Port.ToString(CultureInfo.InvariantCulture),
            };
            for (var i = 0; i < links.Nodes.Length; i++)
            {
                settings[$"RabbitMq__Nodes__{i}"] = $"127.0.0.1:{links.Nodes[i].Port}";
            }

            return settings;
        }

        private async Task StartWorkerAsync(Worker worker, Dictionary<string, string> baseSettings, int pgPort, int[] nodePorts, bool wait)
        {
            worker.Starts++;
            var name = $"worker{worker.Index}";
            worker.Process = await HostProcess.StartAsync("Ingestion.Workers", $"{name}-{worker.Starts}",
                SettingsFor(name, baseSettings, pgPort, nodePorts), waitUntilReady: wait, logDirectory: Path.Combine(_directory, "logs"));
        }

        private async Task RegisterDatasetsAsync()
        {
            foreach (var (_, key) in Tenants)
            {
                using var http = Client(_apis[0], key);
                using var response = await http.PostAsJsonAsync("/v1/datasets", new
                {
                    name = Dataset,
                    columns = new[]
                    {
                        new { name = "file_id", type = "text", required = true },
                        new { name = "n", type = "bigint", required = true },
                        new { name = "note", type = "text", required = false },
                    },
                });
                if (!response.IsSuccessStatusCode && (int)response.StatusCode != 409)
                {
                    throw new InvalidOperationException($"dataset not registered: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }
            }
        }

        private async Task PrintQueueTypesAsync()
        {
            try
            {
                var output = await Infra("cluster.sh", "list-queues", _sandbox!.VirtualHost);
                Log("queues: " + string.Join(", ", output.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
            }
            catch (InvalidOperationException e)
            {
                Log("queues not listed: " + e.Message.Split('\n')[0]);
            }
        }

        // ---- load ----

        private async Task LoadAsync(CancellationToken over)
        {
            var uploads = new List<Task>();
            while (!over.IsCancellationRequested)
            {
                uploads.Add(UploadOneAsync());
                await Delay(TimeSpan.FromMilliseconds(_random.Next(800, 1600)), over);
            }

            await Task.WhenAll(uploads);
        }

        private async Task UploadOneAsync()
        {
            int good, bad, apiIndex;
            (string Tenant, string Key) tenant;
            lock (_random)
            {
                good = _random.Next(300, 6000);
                bad = _random.Next(0, 30);
                apiIndex = _random.Next(_apis.Count);
                tenant = Tenants[_random.Next(Tenants.Length)];
            }

            var fileId = "f" + Guid.NewGuid().ToString("N")[..12];
            var (csv, badLines) = ChaosFile(fileId, good, bad);
            var upload = new Upload(fileId, tenant.Tenant, good, badLines);
            _uploads.Add(upload);

            // A client retries a refused upload with the same Idempotency-Key, for up to two minutes.
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (DateTime.UtcNow < deadline)
            {
                try
                {
                    using var http = Client(_apis[apiIndex], tenant.Key);
                    using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/datasets/{Dataset}/uploads") { Content = new ByteArrayContent(csv) };
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
                    request.Headers.Add("Idempotency-Key", "chaos-" + fileId);
                    using var response = await http.SendAsync(request);
                    var body = await response.Content.ReadAsStringAsync();
                    if ((int)response.StatusCode is 200 or 202)
                    {
                        upload.JobId = JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
                        _jobs[upload.JobId.Value] = "upload";
                        return;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    // The API's PostgreSQL may be restarting; a client tries again.
                }

                apiIndex = (apiIndex + 1) % _apis.Count;
                await Task.Delay(1000);
            }

            Interlocked.Increment(ref _refused);
        }

        /// <summary>
        /// Header on line 1; row i on line i + 1. Good rows carry n = their row number; a bad row has a
        /// non-numeric n or a missing field. Every row names its file, so the table says whose it is.
        /// </summary>
        private (byte[] Csv, IReadOnlySet<long> BadLines) ChaosFile(string fileId, int good, int bad)
        {
            var total = good + bad;
            var badRows = new HashSet<int>();
            lock (_random)
            {
                while (badRows.Count < bad)
                {
                    badRows.Add(_random.Next(1, total + 1));
                }
            }

            var csv = new StringBuilder("file_id,n,note\n");
            for (var i = 1; i <= total; i++)
            {
                if (!badRows.Contains(i))
                {
                    csv.Append(fileId).Append(',').Append(i).Append(",row ").Append(i).Append(" of a chaos file\n");
                }
                else if (i % 2 == 0)
                {
                    csv.Append(fileId).Append(",x").Append(i).Append(",not a number\n");
                }
                else
                {
                    csv.Append(fileId).Append('\n');
                }
            }

            return (Encoding.UTF8.GetBytes(csv.ToString()), badRows.Select(r => (long)r + 1).ToHashSet());
        }

        private async Task StatementsAsync(CancellationToken over)
        {
            while (!over.IsCancellationRequested)
            {
                await Delay(TimeSpan.FromMilliseconds(_random.Next(3000, 6000)), over);
                if (over.IsCancellationRequested)
                {
                    break;
                }

                int account, apiIndex;
                lock (_random)
                {
                    account = 1000 + _random.Next(20);
                    apiIndex = _random.Next(_apis.Count);
                }

                try
                {
                    using var http = Client(_apis[apiIndex], Keys.Acme);
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/statements")
                    {
                        Content = JsonContent.Create(new { accountId = account, from = "2026-01-01", to = "2026-01-31" }),
                    };
                    request.Headers.Add("Idempotency-Key", "chaos-statement-" + Guid.NewGuid().ToString("N"));
                    // Not cancelled at the end of the run: a statement the API accepted must be counted.
                    using var response = await http.SendAsync(request, CancellationToken.None);
                    if ((int)response.StatusCode is 200 or 202)
                    {
                        var job = JsonNode.Parse(await response.Content.ReadAsStringAsync(CancellationToken.None))!["jobId"]!.GetValue<Guid>();
                        _jobs[job] = "statement";
                        Interlocked.Increment(ref _statements);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    // Refused during an outage: the next request comes soon.
                }
            }
        }

        /// <summary>What an operator does during the run: retry what failed, each job up to three times.</summary>
        private async Task RetriesAsync(CancellationToken over)
        {
            while (!over.IsCancellationRequested)
            {
                await Delay(TimeSpan.FromSeconds(5), over);
                try
                {
                    foreach (var row in await QueryAsync("select job_id, tenant_id from ingestion.jobs where current_state = 'Failed'", over))
                    {
                        var job = (Guid)row[0];
                        if (_retries.GetValueOrDefault(job) < 3)
                        {
                            await RetryAsync(job, (string)row[1], over);
                        }
                    }
                }
                catch (Exception e) when (e is Npgsql.NpgsqlException or OperationCanceledException)
                {
                    // PostgreSQL restarting, or the run's end.
                }
            }
        }

        private async Task RetryAsync(Guid job, string tenant, CancellationToken cancellationToken)
        {
            var key = Tenants.Single(t => t.Tenant == tenant).Key;
            for (var attempt = 0; attempt < 10 && !cancellationToken.IsCancellationRequested; attempt++)
            {
                try
                {
                    using var http = Client(_apis[attempt % _apis.Count], key);
                    using var response = await http.PostAsync($"/v1/jobs/{job}/retry", null, cancellationToken);
                    if (response.IsSuccessStatusCode || (int)response.StatusCode == 409)
                    {
                        _retries.AddOrUpdate(job, 1, (_, n) => n + 1);
                        await File.AppendAllTextAsync(Path.Combine(_directory, "retries.log"),
                            $"{DateTime.UtcNow:O} {job} {(int)response.StatusCode}\n", CancellationToken.None);
                        return;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    // Try the other API.
                }

                await Task.Delay(1000, CancellationToken.None);
            }
        }

        // ---- faults ----

        private async Task InjectAsync(Dictionary<string, string> baseSettings, int pgPort, int[] nodePorts, CancellationToken over)
        {
            while (!over.IsCancellationRequested)
            {
                await Delay(TimeSpan.FromMilliseconds(_random.Next(2000, 4000)), over);
                if (over.IsCancellationRequested)
                {
                    break;
                }

                foreach (var exited in _workers.Where(w => w.Process is { HasExited: true }))
                {
                    Log($"worker{exited.Index} exited by itself; starting it again");
                    await StartWorkerAsync(exited, baseSettings, pgPort, nodePorts, wait: false);
                }

                int pick;
                lock (_random)
                {
                    pick = _random.Next(100);
                }

                if (pick < 30)
                {
                    var worker = _workers[_random.Next(_workers.Count)];
                    if (worker.Process is { HasExited: false } process)
                    {
                        Fault("worker_kill", $"SIGKILL worker{worker.Index} (pid {process.Pid})");
                        process.Kill();
                        await process.DisposeAsync();
                        await StartWorkerAsync(worker, baseSettings, pgPort, nodePorts, wait: false);
                    }
                }
                else if (pick < 45 && Interlocked.CompareExchange(ref _nodeDown, 1, 0) == 0)
                {
                    var node = _random.Next(1, 4);
                    var down = TimeSpan.FromSeconds(_random.Next(5, 20));
                    Fault("rabbit_node", $"stop rabbit-{node} for {down.TotalSeconds:F0} s");
                    _background.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await Infra("cluster.sh", "stop-node", node.ToString(CultureInfo.InvariantCulture));
                            await Task.Delay(down, CancellationToken.None);
                        }
                        finally
                        {
                            await Infra("cluster.sh", "start-node", node.ToString(CultureInfo.InvariantCulture));
                            Interlocked.Exchange(ref _nodeDown, 0);
                            Log($"rabbit-{node} is back");
                        }
                    }, CancellationToken.None));
                }
                // Each kind keeps its share: a pick whose fault is busy (a node still down) or too
                // recent (PostgreSQL at most every 15 s, else workers never finish starting) is a cut.
                else if (pick is >= 45 and < 60 && DateTime.UtcNow - _lastPostgresRestart > TimeSpan.FromSeconds(15)
                         && Interlocked.CompareExchange(ref _postgresRestarting, 1, 0) == 0)
                {
                    _lastPostgresRestart = DateTime.UtcNow;
                    Fault("pg_restart", "pg_ctl restart -m fast");
                    _background.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await Infra("chaos-postgres.sh", "restart");
                        }
                        finally
                        {
                            Interlocked.Exchange(ref _postgresRestarting, 0);
                        }
                    }, CancellationToken.None));
                }
                else
                {
                    var hosts = _links.Keys.ToList();
                    string host;
                    bool toPostgres;
                    TimeSpan cut;
                    lock (_random)
                    {
                        host = hosts[_random.Next(hosts.Count)];
                        toPostgres = _random.Next(2) == 0;
                        cut = TimeSpan.FromMilliseconds(_random.Next(1000, 6000));
                    }

                    var links = _links[host];
                    var proxies = toPostgres ? [links.Postgres] : links.Nodes;
                    Fault(toPostgres ? "cut_postgres" : "cut_rabbitmq", $"cut {host}'s connections to {(toPostgres ? "PostgreSQL" : "RabbitMQ")} for {cut.TotalSeconds:F1} s");
                    foreach (var proxy in proxies)
                    {
                        proxy.Cut();
                    }

                    _background.Add(Task.Run(async () =>
                    {
                        await Task.Delay(cut, CancellationToken.None);
                        foreach (var proxy in proxies)
                        {
                            proxy.Restore();
                        }
                    }, CancellationToken.None));
                }
            }
        }

        private void Fault(string kind, string what)
        {
            _faults.AddOrUpdate(kind, 1, (_, n) => n + 1);
            lock (_faultLog!)
            {
                _faultLog.WriteLine($"{DateTime.UtcNow:O} {kind} {what}");
            }

            Log(what);
        }

        // ---- the end ----

        private async Task WaitForAllToEndAsync(TimeSpan grace, CancellationToken stop)
        {
            var deadline = DateTime.UtcNow + grace;
            while (DateTime.UtcNow < deadline)
            {
                try
                {
                    var open = await QueryAsync("select count(*) from ingestion.jobs where current_state <> all(@final)", stop, ("final", FinalStates));
                    var pending = _uploads.Count(u => u.JobId is null);
                    if ((long)open[0][0] == 0)
                    {
                        return;
                    }

                    Log($"{open[0][0]} job(s) not ended yet{(pending > 0 ? $", {pending} upload(s) still being sent" : "")}");
                }
                catch (Npgsql.NpgsqlException)
                {
                    // Still starting up again.
                }

                await Task.Delay(TimeSpan.FromSeconds(5), stop);
            }
        }

        private async Task<int> VerifyAsync(double minutes, TimeSpan elapsed, CancellationToken stop)
        {
            var states = (await QueryAsync("select job_id, kind, current_state, updated_at from ingestion.jobs", stop))
                .ToDictionary(r => (Guid)r[0], r => (Kind: (string)r[1], State: (string)r[2], UpdatedAt: (DateTime)r[3]));
            var completed = states.Values.Count(s => s.State is "Completed" or "Ready");
            var failed = states.Values.Count(s => s.State == "Failed");
            var stranded = states.Where(s => !FinalStates.Contains(s.Value.State)).ToList();
            var report = new StringBuilder();
            foreach (var (job, (kind, state, updatedAt)) in stranded)
            {
                var last = await QueryAsync(
                    "select at, type, coalesce(from_state, ''), coalesce(to_state, ''), what from ingestion.job_events where job_id = @id order by id desc limit 1",
                    stop, ("id", job));
                var outbox = await QueryAsync("select count(*) from ingestion.outbox where body::text like '%' || @id || '%'", stop, ("id", job.ToString()));
                var checkpoint = await QueryAsync(
                    "select rows_loaded, line, finished_at is not null, updated_at from ingestion.upload_checkpoints where job_id = @id", stop, ("id", job));
                report.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"stranded job={job} kind={kind} state={state} updated_at={updatedAt:O}") +
                    (last.Count > 0 ? string.Create(CultureInfo.InvariantCulture, $" last_event=[{last[0][0]:O} {last[0][1]} {last[0][2]}->{last[0][3]} {last[0][4]}]") : " last_event=none") +
                    $" outbox_rows={outbox[0][0]}" +
                    (checkpoint.Count > 0 ? string.Create(CultureInfo.InvariantCulture, $" checkpoint=[rows {checkpoint[0][0]}, line {checkpoint[0][1]}, finished {checkpoint[0][2]}, at {checkpoint[0][3]:O}]") : " checkpoint=none"));
            }

            long lostRows = 0, duplicateRows = 0, lostRejects = 0, duplicateRejects = 0;
            var counts = (await QueryAsync(
                    $"select tenant, file_id, count(*), count(distinct n) from (select 'acme' tenant, file_id, n from tenant_acme.{Dataset} union all select 'globex', file_id, n from tenant_globex.{Dataset}) r group by 1, 2",
                    stop))
                .ToDictionary(r => (string)r[1], r => (Count: (long)r[2], Distinct: (long)r[3]));
            using var plain = new HttpClient();
            foreach (var upload in _uploads.Where(u => u.JobId is { } id && states.TryGetValue(id, out var s) && s.State == "Completed"))
            {
                var (count, distinct) = counts.GetValueOrDefault(upload.FileId);
                var lost = upload.Good - distinct;
                var doubled = count - distinct;
                lostRows += Math.Max(0, lost);
                duplicateRows += doubled;

                using var http = Client(_apis[0], Tenants.Single(t => t.Tenant == upload.Tenant).Key);
                var job = JsonNode.Parse(await http.GetStringAsync($"/v1/jobs/{upload.JobId}", stop))!;
                var lines = new List<long>();
                if (job["rejects"]?["url"]?.GetValue<string>() is { } url)
                {
                    lines = RejectLines(await plain.GetByteArrayAsync(url, stop));
                }

                var missing = upload.BadLines.Count(l => !lines.Contains(l));
                var extra = lines.Count - lines.Distinct().Count() + lines.Distinct().Count(l => !upload.BadLines.Contains(l));
                lostRejects += missing;
                duplicateRejects += extra;
                if (lost != 0 || doubled != 0 || missing != 0 || extra != 0)
                {
                    report.AppendLine(CultureInfo.InvariantCulture,
                        $"wrong rows job={upload.JobId} file={upload.FileId} good={upload.Good} rows={count} distinct={distinct} bad={upload.BadLines.Count} rejects={lines.Count} missing_rejects={missing} extra_rejects={extra}");
                }
            }

            var faults = _faults.Values.Sum();
            var uploads = _jobs.Values.Count(k => k == "upload");
            var line = string.Create(CultureInfo.InvariantCulture,
                $"chaos minutes={minutes:0.##} jobs={states.Count} faults={faults} completed={completed} failed={failed} stranded={stranded.Count} lost_rows={lostRows} duplicate_rows={duplicateRows}");
            var detail = string.Create(CultureInfo.InvariantCulture,
                $"chaos faults {string.Join(' ', _faults.OrderBy(f => f.Key).Select(f => $"{f.Key}={f.Value}"))} | uploads={uploads} statements={_statements} refused_uploads={_refused} retries={_retries.Values.Sum()} lost_rejects={lostRejects} duplicate_rejects={duplicateRejects} elapsed_s={elapsed.TotalSeconds:F0}");
            Console.Write(report);
            Console.WriteLine(line);
            Console.WriteLine(detail);
            await File.WriteAllTextAsync(Path.Combine(_directory, "summary.txt"), report + line + "\n" + detail + "\n", CancellationToken.None);
            Log($"logs, faults.log and summary.txt in {_directory}; the run's database {_sandbox!.Database} is kept (infra/chaos-postgres.sh up to inspect it)");
            return stranded.Count == 0 && lostRows == 0 && duplicateRows == 0 && lostRejects == 0 && duplicateRejects == 0 && failed == 0 ? 0 : 1;
        }

        /// <summary>The line numbers of a rejects file (line,column,reason,record; a record may hold quoted line breaks).</summary>
        private static List<long> RejectLines(byte[] file)
        {
            var text = Encoding.UTF8.GetString(file);
            var lines = new List<long>();
            var field = new StringBuilder();
            var fieldIndex = 0;
            var quoted = false;
            var header = true;
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (quoted)
                {
                    if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                    {
                        i++;
                    }
                    else if (c == '"')
                    {
                        quoted = false;
                    }
                    else if (fieldIndex == 0)
                    {
                        field.Append(c);
                    }
                }
                else if (c == '"')
                {
                    quoted = true;
                }
                else if (c == ',')
                {
                    fieldIndex++;
                }
                else if (c is '\n' or '\r')
                {
                    if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                    {
                        i++;
                    }

                    if (!header && field.Length > 0)
                    {
                        lines.Add(long.Parse(field.ToString(), CultureInfo.InvariantCulture));
                    }

                    header = false;
                    field.Clear();
                    fieldIndex = 0;
                }
                else if (fieldIndex == 0)
                {
                    field.Append(c);
                }
            }

            if (!header && field.Length > 0)
            {
                lines.Add(long.Parse(field.ToString(), CultureInfo.InvariantCulture));
            }

            return lines;
        }

        // ---- plumbing ----

        private static HttpClient Client(HostProcess api, string key)
        {
            var http = new HttpClient { BaseAddress = api.Url, Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Add("X-Api-Key", key);
            return http;
        }

        private async Task<List<object[]>> QueryAsync(string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
        {
            await using var command = _sandbox!.Db.CreateCommand(sql);
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var rows = new List<object[]>();
            while (await reader.ReadAsync(cancellationToken))
            {
                var row = new object[reader.FieldCount];
                reader.GetValues(row);
                rows.Add(row);
            }

            return rows;
        }

        private static async Task Delay(TimeSpan wait, CancellationToken over)
        {
            try
            {
                await Task.Delay(wait, over);
            }
            catch (OperationCanceledException)
            {
                // The phase is over; the caller's loop ends.
            }
        }

        private static Task<string> Infra(string script, params string[] arguments) =>
            Shell.RunAsync("bash", [Path.Combine(Repository.Root, "infra", script), .. arguments]);

        public async ValueTask DisposeAsync()
        {
            Log("stopping the hosts, proxies, the cluster and the run's PostgreSQL");
            foreach (var host in _apis.Concat(_workers.Select(w => w.Process)).OfType<HostProcess>())
            {
                try
                {
                    await host.DisposeAsync();
                }
                catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // Already gone.
                }
            }

            foreach (var links in _links.Values)
            {
                await links.DisposeAsync();
            }

            try
            {
                await Task.WhenAll(_background).WaitAsync(TimeSpan.FromMinutes(1));
            }
            catch (Exception e)
            {
                Log("a fault still running at the end: " + e.Message);
            }

            if (_sandbox is not null)
            {
                await _sandbox.Db.DisposeAsync();
            }

            if (_clusterUp)
            {
                await TryInfra("cluster.sh", "down");
            }

            if (_postgresUp)
            {
                await TryInfra("chaos-postgres.sh", "down");
            }

            _faultLog?.Dispose();
        }

        private static async Task TryInfra(string script, params string[] arguments)
        {
            try
            {
                await Infra(script, arguments);
            }
            catch (InvalidOperationException e)
            {
                Log($"{script} {string.Join(' ', arguments)} failed: {e.Message}");
            }
        }
    }
}
