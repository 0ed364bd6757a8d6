using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Platform.Datasets;
using Ingestion.Tests.Infrastructure;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// An index build that takes longer than a message may be held: RabbitMQ redelivers a message held past
/// its consumer timeout (30 minutes), which used to start a second build. Here the bound is a second
/// (<c>IndexBuilds:MaxHold</c>), and an open write makes <c>CONCURRENTLY</c> wait, so the build outlives it
/// in seconds: it is started once, the message is let go while it runs, and a later turn finishes the job.
/// A worker killed mid-build leaves an INVALID index and a backend that PostgreSQL ends within a second
/// (<c>client_connection_check_interval</c>); the other worker drops it and builds again. A worker stopped
/// gracefully cancels its build and says so: it is built again without counting a start.
/// </summary>
public sealed class When_an_index_build_outlives_its_message
{
    private const int Rows = 200;

    private Deployment? _ownWorkers;

    /// <summary>
    /// Three workers of their own, started once for the tests that kill or stop the worker running a build (each
    /// leaves at least one other to take the job on). <c>MaxStarts</c> is 2: a killed worker's build is started again
    /// once, and a stopped worker's build that counted as a start would show as two. The reaper looks every second and
    /// takes a job quiet for 5 s whose lock nobody holds: a build outlives its message (<c>MaxHold</c>), so the turn after
    /// it may arrive while the build still holds the job and step aside, and when the worker is then killed no message is
    /// left for the job: the reaper is what carries it on (after its default 5 minutes in production).
    /// </summary>
    private async Task<Deployment> OwnWorkersAsync() =>
        _ownWorkers ??= await Deployment.StartAsync(TestRun.Servers, "index-workers", new Dictionary<string, string>
        {
            ["IndexBuilds__MaxHold"] = "00:00:01",
            ["IndexBuilds__LockTimeout"] = "00:00:30",
            ["IndexBuilds__MaxStarts"] = "2",
            ["Reaper__Period"] = "00:00:01",
            ["Reaper__StaleAfter"] = "00:00:05",
        }, workers: 3);

    [OneTimeTearDown]
    public async Task StopOwnWorkersAsync()
    {
        if (_ownWorkers is not null)
        {
            await _ownWorkers.DisposeAsync();
        }
    }

    [Test]
    public async Task Should_build_once_and_let_the_message_go_while_it_runs()
    {
        var deployment = TestRun.Shared;
        using var acme = deployment.Client(Keys.Acme);
        var name = "outlived_" + Guid.NewGuid().ToString("N")[..8];
        await acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name));
        await FillAsync(deployment, name);

        Guid jobId;
        await using (var writer = await deployment.Sandbox.Db.OpenConnectionAsync())
        await using (var open = await HoldWriteAsync(writer, name))
        {
            jobId = await AddIndexAsync(acme, name, "qty");

            // The worker says it let the message go while the build waited for the write: no message is held for the build.
            await WaitUntilAsync(() => Task.FromResult(deployment.Workers.Any(w => w.Log().Split('\n')
                .Any(line => line.Contains($"Index build {jobId}") && line.Contains("still building")))), "the message was let go mid-build");
            await open.RollbackAsync();
        }

        var job = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "built", "failed", "cancelled");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("built"), job.ToJsonString());
        Assert.That(await StartsAsync(deployment, jobId), Is.EqualTo(1), "one build, however many turns followed it");
        Assert.That(await IndexesAsync(deployment, name, DatasetIndex.NameOf(name, ["qty"])), Is.EqualTo((1L, 0L)));
    }

    [Test]
    public async Task Should_drop_what_a_killed_worker_left_and_build_it_again()
    {
        var deployment = await OwnWorkersAsync();
        using var acme = deployment.Client(Keys.Acme);
        var name = "killed_" + Guid.NewGuid().ToString("N")[..8];
        await acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name));
        await FillAsync(deployment, name);

        Guid jobId;
        await using (var writer = await deployment.Sandbox.Db.OpenConnectionAsync())
        await using (var open = await HoldWriteAsync(writer, name))
        {
            jobId = await AddIndexAsync(acme, name, "price");
            await WaitUntilAsync(async () => await BuildingAsync(deployment, jobId), "the build runs on its recorded backend");

            deployment.Workers.Single(w => w.Log().Contains($"Index build {jobId}: build 1 started")).Kill();
            await WaitUntilAsync(async () => !await BuildingAsync(deployment, jobId), "PostgreSQL ended the dead worker's build");
            Assert.That(await IndexesAsync(deployment, name, DatasetIndex.NameOf(name, ["price"])), Is.EqualTo((0L, 1L)),
                "the killed build left an INVALID index");
            await open.RollbackAsync();
        }

        // Another worker takes the job on: its message redelivered, sent back by the killed worker's last turn, or, when
        // that turn's message came while the build held the job and stepped aside, sent again by the reaper.
        var job = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "built", "failed", "cancelled");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("built"), job.ToJsonString());
        Assert.That(await StartsAsync(deployment, jobId), Is.EqualTo(2), "built again after the first build died with its worker");
        Assert.That(await IndexesAsync(deployment, name, DatasetIndex.NameOf(name, ["price"])), Is.EqualTo((1L, 0L)),
            "one valid index, nothing invalid left");
    }

    [Test]
    public async Task Should_build_again_without_counting_a_start_when_its_worker_is_stopped()
    {
        // A deployment stops workers gracefully (SIGTERM): the build it cancels is not one of IndexBuilds:MaxStarts, which
        // bounds builds lost to crashes.
        var deployment = await OwnWorkersAsync();
        using var acme = deployment.Client(Keys.Acme);
        var name = "stopped_" + Guid.NewGuid().ToString("N")[..8];
        await acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name));
        await FillAsync(deployment, name);

        Guid jobId;
        string started;
        HostProcess? other = null;
        await using (var writer = await deployment.Sandbox.Db.OpenConnectionAsync())
        await using (var open = await HoldWriteAsync(writer, name))
        {
            jobId = await AddIndexAsync(acme, name, "price");
            await WaitUntilAsync(async () => await BuildingAsync(deployment, jobId), "the build runs on its recorded backend");

            started = $"Index build {jobId}: build 1 started";
            var stopped = deployment.Workers.Single(w => w.Log().Contains(started));
            await stopped.StopAsync();
            Assert.That(stopped.Log(), Does.Contain($"Index build {jobId}: the worker is stopping and cancelled its build"));

            // Another worker takes the job on; dropping what the stopped build left waits for the open write.
            await WaitUntilAsync(() => Task.FromResult((other = deployment.Workers.FirstOrDefault(w => w != stopped && w.Log().Split('\n')
                .Any(line => line.Contains($"Index build {jobId}") && line.Contains("was stopped with its worker; it is built again")))) is not null),
                "another worker found the stopped build");
            await open.RollbackAsync();
        }

        var job = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "built", "failed", "cancelled");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("built"), job.ToJsonString());
        Assert.That(other!.Log(), Does.Contain(started), "another worker built it again, recorded as the same start");
        Assert.That(await StartsAsync(deployment, jobId), Is.EqualTo(1), "the build its worker stopped is not counted");
        Assert.That(await IndexesAsync(deployment, name, DatasetIndex.NameOf(name, ["price"])), Is.EqualTo((1L, 0L)),
            "one valid index, nothing the stopped build left");
    }

    [Test]
    public async Task Should_fail_as_table_busy_once_when_another_build_holds_the_table()
    {
        // What another build of the table holds (SHARE UPDATE EXCLUSIVE): the job's CREATE waits for it before it creates
        // anything, past IndexBuilds:LockTimeout (5 s in the shared stack). That is the build's own table_busy, not a lost
        // build started again (nothing is left to drop, so no drop would report the busy table instead).
        var deployment = TestRun.Shared;
        using var acme = deployment.Client(Keys.Acme);
        var name = "busy_" + Guid.NewGuid().ToString("N")[..8];
        await acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name));
        await FillAsync(deployment, name);

        Guid jobId;
        JsonNode job;
        await using (var other = await deployment.Sandbox.Db.OpenConnectionAsync())
        await using (var holding = await other.BeginTransactionAsync())
        {
            await using (var lockTable = new NpgsqlCommand($"lock table tenant_acme.\"{name}\" in share update exclusive mode", other, holding))
            {
                await lockTable.ExecuteNonQueryAsync();
            }

            jobId = await AddIndexAsync(acme, name, "qty");
            job = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(40), "built", "failed", "cancelled");
            await holding.RollbackAsync();
        }

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("table_busy"), job.ToJsonString());
        Assert.That(await StartsAsync(deployment, jobId), Is.EqualTo(1), "the build that met the lock timeout is not started again");
        Assert.That(await IndexesAsync(deployment, name, DatasetIndex.NameOf(name, ["qty"])), Is.EqualTo((0L, 0L)));
    }

    [Test]
    public async Task Should_cancel_the_running_build_and_leave_no_index()
    {
        var deployment = TestRun.Shared;
        using var acme = deployment.Client(Keys.Acme);
        var name = "cancelled_" + Guid.NewGuid().ToString("N")[..8];
        await acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(name));
        await FillAsync(deployment, name);
        var index = DatasetIndex.NameOf(name, ["price"]);

        Guid jobId;
        await using (var writer = await deployment.Sandbox.Db.OpenConnectionAsync())
        await using (var open = await HoldWriteAsync(writer, name))
        {
            jobId = await AddIndexAsync(acme, name, "price");
            await WaitUntilAsync(async () => await BuildingAsync(deployment, jobId), "the build runs on its recorded backend");

            // The backend shows its build (pg_stat_progress_create_index) before the transaction that makes the INVALID index commits.
            await WaitUntilAsync(async () => await IndexesAsync(deployment, name, index) == (0L, 1L), "the waiting build made its INVALID index");

            using (var cancel = await acme.PostAsync($"/v1/jobs/{jobId}/cancel", null))
            {
                Assert.That(cancel.IsSuccessStatusCode, Is.True, await cancel.Content.ReadAsStringAsync());
            }

            // The recorded backend's CREATE is cancelled, and the backend (not pooled) ends with it.
            await WaitUntilAsync(async () => !await RecordedBackendAliveAsync(deployment, jobId), "the recorded backend's build was cancelled");
            await open.RollbackAsync();
        }

        // The cancel's drop waited for the open write (within the lock timeout) and then dropped what the build left.
        await WaitUntilAsync(async () => await IndexesAsync(deployment, name, index) == (0L, 0L), "no index, valid or invalid, remains");
        var job = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(30), "built", "failed", "cancelled");
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("cancelled"), job.ToJsonString());
        Assert.That(await IndexesAsync(deployment, name, index), Is.EqualTo((0L, 0L)));
    }

    /// <summary>Rows written straight into the dataset's table: the build needs rows, not the upload path that loads them.</summary>
    private static Task FillAsync(Deployment deployment, string dataset) =>
        deployment.Sandbox.ExecuteAsync($"""
            insert into tenant_acme."{dataset}" (id, name, price, qty, at)
            select i, 'item ' || i % 10, i * 1.25, i % 7, now() from generate_series(1, @rows) as s(i)
            """, ("rows", Rows));

    /// <summary>A write left open on the dataset: <c>CREATE INDEX CONCURRENTLY</c> waits until it ends.</summary>
    private static async Task<NpgsqlTransaction> HoldWriteAsync(NpgsqlConnection connection, string dataset)
    {
        var transaction = await connection.BeginTransactionAsync();
        await using var update = new NpgsqlCommand($"update tenant_acme.\"{dataset}\" set note = note where id = 1", connection, transaction);
        await update.ExecuteNonQueryAsync();
        return transaction;
    }

    private static async Task<Guid> AddIndexAsync(HttpClient client, string dataset, string column)
    {
        using var accepted = await client.PostAsJsonAsync($"/v1/datasets/{dataset}/indexes", new { columns = new[] { column } });
        Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await accepted.Content.ReadAsStringAsync());
        return (await accepted.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>();
    }

    /// <summary>Whether the backend recorded for the job is building an index now.</summary>
    private static async Task<bool> BuildingAsync(Deployment deployment, Guid jobId) =>
        await deployment.Sandbox.ScalarAsync<bool>("""
            select exists (select from ingestion.index_build_sessions s
                           join pg_stat_activity a on a.pid = s.backend_pid and a.backend_start = s.backend_start
                           join pg_stat_progress_create_index p on p.pid = a.pid
                           where s.job_id = @job)
            """, ("job", jobId));

    /// <summary>Whether the backend recorded for the job is alive at all (build sessions are not pooled: it ends with its build).</summary>
    private static async Task<bool> RecordedBackendAliveAsync(Deployment deployment, Guid jobId) =>
        await deployment.Sandbox.ScalarAsync<bool>("""
            select exists (select from ingestion.index_build_sessions s
                           join pg_stat_activity a on a.pid = s.backend_pid and a.backend_start = s.backend_start
                           where s.job_id = @job)
            """, ("job", jobId));

    private static async Task<int> StartsAsync(Deployment deployment, Guid jobId) =>
        await deployment.Sandbox.ScalarAsync<int>("select starts from ingestion.index_build_sessions where job_id = @job", ("job", jobId));

    /// <summary>Valid and invalid indexes of that name on the dataset's table.</summary>
    private static async Task<(long Valid, long Invalid)> IndexesAsync(Deployment deployment, string dataset, string index)
    {
        const string Sql = """
            select count(*) from pg_index i join pg_class c on c.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
            where t.relname = @table and c.relname = @name and i.indisvalid = @valid
            """;
        return (await deployment.Sandbox.ScalarAsync<long>(Sql, ("table", dataset), ("name", index), ("valid", true)),
            await deployment.Sandbox.ScalarAsync<long>(Sql, ("table", dataset), ("name", index), ("valid", false)));
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"waited 30 s for: {what}");
            await Task.Delay(100);
        }
    }
}
