using System.Net;
using System.Text;
using Ingestion.Platform.Database;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Tenancy;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Syncs;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// A sync's page loader on a real PostgreSQL (a database of its own, no hosts), with another partition of the same job
/// writing the same keys at the same moment: the reconciliation names every key behind a duplicate, also one the other
/// partition committed while this page waited for it, and a job whose list of keys is full no longer queues its
/// colliding pages behind one another to record keys it will not keep.
/// </summary>
public sealed class When_partitions_load_the_same_key_at_once
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private Sandbox _sandbox = null!;
    private string _tenant = null!;
    private DatasetDefinition _dataset = null!;
    private SourceDefinition _source = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _sandbox = await MigratedSandbox.CreateAsync("dupkeys");
        _tenant = "dupkeys_" + Guid.NewGuid().ToString("N")[..8];
        _dataset = new DatasetDefinition("events",
            [new DatasetColumn("id", new ColumnType(ColumnKind.BigInt), true), new DatasetColumn("note", new ColumnType(ColumnKind.Text), false)],
            ["id"]);
        Assert.That(await new DatasetCatalog(_sandbox.Db).CreateAsync(_tenant, _dataset, CancellationToken.None), Is.True);
        _source = new SourceDefinition("events", "events", new SourceRequest("http://127.0.0.1:9/", "/v1/events"), null,
            new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.next"),
            new SourceRecords("$.data", new Dictionary<string, string> { ["id"] = "$.id", ["note"] = "$.note" }),
            new SourceRateLimit([new RateLimitPolicy(10, 1)]));
    }

    [OneTimeTearDown]
    public async Task StopAsync() => await _sandbox.DisposeAsync();

    [Test]
    public async Task Should_name_a_key_another_partition_committed_while_this_page_waited_for_it()
    {
        var job = await NewJobAsync();
        await _sandbox.ExecuteAsync($"insert into {Table} (id, note) values (101, 'loaded before')");

        // Partition 1 is committing key 102: inserted, not committed yet.
        await using var other = await _sandbox.Db.OpenConnectionAsync();
        await using var committing = await other.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand($"insert into {Table} (id, note) values (102, 'partition 1')", other, committing))
        {
            await insert.ExecuteNonQueryAsync();
        }

        // Partition 0's page: 101 is loaded, 102 is being loaded, 103 is new.
        await using var connection = await _sandbox.Db.OpenConnectionAsync();
        var loading = LoadAsync(connection, job, 0, """{"data":[{"id":101},{"id":102},{"id":103}],"next":null}""");

        await WaitUntilBlockedAsync(connection.ProcessID);
        await committing.CommitAsync();
        var load = await loading.WaitAsync(Patience);

        Assert.That((load.Records, load.Loaded, load.Duplicates), Is.EqualTo((3L, 1L, 2L)), "103 loaded; 101 and 102 were there");
        Assert.That(await KeysAsync(job), Is.EqualTo(new[] { """{"id": 101}:1""", """{"id": 102}:1""" }),
            "every duplicate's key is named, the one committed meanwhile too");
        Assert.That(await _sandbox.ScalarAsync<string>($"select note from {Table} where id = 102"), Is.EqualTo("partition 1"));
    }

    [Test]
    public async Task Should_count_on_without_queueing_behind_the_jobs_lock_once_its_list_of_keys_is_full()
    {
        var job = await NewJobAsync();
        await _sandbox.ExecuteAsync($"insert into {Table} (id) select 200 + n from generate_series(0, 100) n");
        await _sandbox.ExecuteAsync("""
            insert into ingestion.sync_duplicate_keys (job_id, key, times, places, first_place)
            select @job, jsonb_build_object('id', 200 + n), 1, '[]', n from generate_series(0, 99) n
            """, ("job", job));

        // Another partition of the job holds the lock that keeps the list's bound exact.
        await using var other = await _sandbox.Db.OpenConnectionAsync();
        await using (var hold = new NpgsqlCommand("select pg_advisory_lock(hashtextextended('ingestion.sync-duplicates:' || @job::text, 0))", other))
        {
            hold.Parameters.AddWithValue("job", job);
            await hold.ExecuteNonQueryAsync();
        }

        // Key 200 is in the list, 300 loaded but not in it (the list is full), 400 new.
        await using var connection = await _sandbox.Db.OpenConnectionAsync();
        var load = await LoadAsync(connection, job, 0, """{"data":[{"id":200},{"id":300},{"id":400}]}""").WaitAsync(Patience);

        Assert.That((load.Loaded, load.Duplicates), Is.EqualTo((1L, 2L)));
        var keys = await KeysAsync(job);
        Assert.That(keys, Has.Count.EqualTo(100), "no key past the bound");
        Assert.That(keys, Does.Contain("""{"id": 200}:2"""), "a recorded key counts on");
        Assert.That(keys, Does.Not.Contain("""{"id": 300}:1"""));
    }

    private string Table => TenantSchema.QualifiedTable(_tenant, _dataset.Name);

    private async Task<Guid> NewJobAsync()
    {
        var job = Guid.NewGuid();
        await _sandbox.ExecuteAsync("insert into ingestion.sync_partitions (job_id, partition) values (@job, 0), (@job, 1)", ("job", job));
        return job;
    }

    private async Task<PageLoad> LoadAsync(NpgsqlConnection connection, Guid job, int partition, string body)
    {
        var requests = new PageRequests(_source, null);
        var loader = new PageLoader(connection, job, partition, _tenant, _dataset, _source, requests, 4096, 0);
        var response = new HttpResponseMessage(HttpStatusCode.OK)
        {
            RequestMessage = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:9/v1/events"),
        };
        var stream = new PageStream(new MemoryStream(Encoding.UTF8.GetBytes(body)), "http://127.0.0.1:9/v1/events", JsonPath.Parse("$.data"),
            requests.Watched, Patience);
        using var page = new FetchedPage(response, stream) { Position = new PagePosition(null, null, null) };
        return await loader.LoadAsync(page, CancellationToken.None);
    }

    /// <summary>Waits until the backend <paramref name="pid"/> waits for a lock: the page reached the key being committed.</summary>
    private async Task WaitUntilBlockedAsync(int pid)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (await _sandbox.ScalarAsync<string>("select coalesce(wait_event_type, '') from pg_stat_activity where pid = @pid", ("pid", pid)) != "Lock")
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the page never waited for the key being committed");
            await Task.Delay(20);
        }
    }

    private async Task<List<string>> KeysAsync(Guid job)
    {
        await using var command = _sandbox.Db.CreateCommand("select key::text || ':' || times from ingestion.sync_duplicate_keys where job_id = @job order by key");
        command.Parameters.AddWithValue("job", job);
        await using var reader = await command.ExecuteReaderAsync();
        var keys = new List<string>();
        while (await reader.ReadAsync())
        {
            keys.Add(reader.GetString(0));
        }

        return keys;
    }
}
