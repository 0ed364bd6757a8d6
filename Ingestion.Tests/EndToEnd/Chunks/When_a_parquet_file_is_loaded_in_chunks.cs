using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ingestion.Tests.Infrastructure;
using Parquet;
using static Ingestion.Tests.EndToEnd.Chunks.ChunkedLoads;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// A Parquet file of many row groups is loaded in chunks of whole row groups (a chunk is a range of rows that starts at a
/// row group's start) by two workers at once. Keyed (reject) datasets load their chunks straight into the table in
/// parallel: a batch loaded twice would show as a reject ("already in the table"), a chunk or a batch skipped as missing
/// rows; a keyless one loads them directly too, and an upsert one stages the chunks ahead of their turn. Batches of 1,700
/// rows end inside row groups, so a chunk's checkpoint is inside one.
/// </summary>
public sealed class When_a_parquet_file_is_loaded_in_chunks
{
    private const int Groups = 16;
    private const int RowsPerGroup = 10_000;
    private const int Rows = Groups * RowsPerGroup;
    private static readonly long[] EvenChunkStarts = [.. Enumerable.Range(0, Groups / 2).Select(c => (long)c * 2 * RowsPerGroup)];
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "parquetchunks", new Dictionary<string, string>
    {
        // A row group's three columns hold about 0.3 MB decompressed: 16 of them fill 7 chunks, which become 8 even ones
        // (a multiple of the two in flight) of two row groups each.
        ["Processing__ChunkBytes"] = "700000",
        ["Processing__BatchRows"] = "1700",
        ["Processing__ChunkUpserts"] = "true",
    }, workers: 2);

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_cut_it_at_row_groups_and_load_every_row_exactly_once_when_every_worker_is_killed()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await CreateReadingsAsync(acme, "readings");
        // Every 4,000th row waits a quarter of a second: the load takes seconds, and the kill finds chunks part-loaded.
        await _deployment.Sandbox.ExecuteAsync("""
            create function tenant_acme.slow_readings() returns trigger language plpgsql as $$
            begin
                perform pg_sleep(0.25);
                return new;
            end $$;
            create trigger slow before insert on tenant_acme.readings for each row when (new.id % 4000 = 0)
                execute function tenant_acme.slow_readings();
            """);
        var file = await TestParquet.ReadingsAsync(Groups, RowsPerGroup);
        var jobId = await acme.StartParquetUploadAsync("readings", file);

        // Mid-load, the job's progress in bytes is its share of the rows: a chunk's positions are rows, not bytes.
        var midway = await ProgressAtLeastAsync(acme, jobId, Rows / 3);
        foreach (var worker in _deployment.Workers)
        {
            worker.Kill();
        }

        await _deployment.StartWorkerAsync();
        await _deployment.StartWorkerAsync();
        var job = await acme.WaitForJobEndAsync(jobId, seconds: 180);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        var rowsShare = midway["rowsLoaded"]!.GetValue<double>() / Rows;
        var bytesShare = midway["bytesRead"]!.GetValue<double>() / file.Length;
        Assert.That(bytesShare, Is.EqualTo(rowsShare).Within(0.15), $"progress mid-load: {midway.ToJsonString()}");
        Assert.That(midway["rowsLoaded"]!.GetValue<long>(), Is.LessThan(Rows), "the workers were killed while rows were being loaded");

        var sandbox = _deployment.Sandbox;
        await TestParquet.AssertReadingsAsync(sandbox, "tenant_acme.readings", Rows);
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
        Assert.That(job["progress"]!["bytesRead"]!.GetValue<long>(), Is.EqualTo(file.Length));
        var starts = await ChunkStartsAsync(jobId);
        Assert.That(starts, Is.EqualTo(EvenChunkStarts), "eight even chunks of two row groups, each starting at a row group");
        Assert.That(await sandbox.ScalarAsync<long>("select count(*) from ingestion.upload_chunks where job_id = @id and attempts > 1",
            ("id", jobId)), Is.Positive, "the chunks part-loaded at the kill were taken again");
    }

    [Test]
    public async Task Should_reject_a_key_repeated_in_a_later_chunk_naming_its_row_as_one_stream_would()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await CreateReadingsAsync(acme, "repeats");
        // The second chunk's first row (row 20,001, at the third row group) repeats the id of row 19,990, in the first
        // chunk's last batch: the two chunks load at once, so the second commits the key first, and the first chunk's batch
        // evicts it (it loads again and rejects its row, as one stream would have).
        const int repeated = 2 * RowsPerGroup + 1;
        var file = await TestParquet.ReadingsAsync(Groups, RowsPerGroup, id => id == repeated ? 19_990 : id);

        var jobId = await acme.StartParquetUploadAsync("repeats", file);
        var job = await acme.WaitForJobEndAsync(jobId, seconds: 180);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows - 1));
        var rejects = await RejectsAsync(job);
        Assert.That(rejects.Select(r => (r.Line, r.Column, r.Reason)), Is.EqualTo(new[]
        {
            ((long)repeated, "id", "has the key (id)=(19990), which is already in the table"),
        }));
        var sandbox = _deployment.Sandbox;
        Assert.That(await sandbox.ScalarAsync<decimal>("select value from tenant_acme.repeats where id = 19990"),
            Is.EqualTo(19.990m), "the first row with the key is the one kept");
        Assert.That(await ChunkStartsAsync(jobId), Is.EqualTo(EvenChunkStarts), "the repeat is the second chunk's first row");
        Assert.That(await sandbox.ScalarAsync<long>("select count(*) from tenant_acme.repeats"), Is.EqualTo(Rows - 1));
        Assert.That(await sandbox.ScalarAsync<long>("select sum(evictions)::bigint from ingestion.upload_chunks where job_id = @id",
            ("id", jobId)), Is.Positive, "the second chunk was evicted by the first and loaded again, row ranges and all");
    }

    [Test]
    public async Task Should_apply_staged_chunks_in_file_order_so_the_last_row_of_a_key_wins_under_upsert()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await acme.CreateDatasetAsync(new
        {
            name = "latest", columns = TestParquet.ReadingColumns, key = new[] { "id" }, onKeyConflict = "upsert", format = "parquet",
        });
        // Every row of the last row group repeats the id of a row of the first: under upsert, the later row wins. The chunks
        // ahead of their turn are staged (their rows as the file has them) and applied in file order.
        const int last = Rows - RowsPerGroup;
        var file = await TestParquet.ReadingsAsync(Groups, RowsPerGroup, id => id > last ? id - last : id);
        // The first chunk's rows go in slowly (five of them wait a quarter of a second each), so the other worker's chunks
        // are ahead of their turn whatever the two workers' timing: without it they sometimes ran in order, staging none.
        await _deployment.Sandbox.ExecuteAsync($"""
            create function tenant_acme.slow_latest() returns trigger language plpgsql as $$
            begin
                perform pg_sleep(0.25);
                return new;
            end $$;
            create trigger slow before insert on tenant_acme.latest for each row when (new.id % 2000 = 0 and new.id <= {RowsPerGroup})
                execute function tenant_acme.slow_latest();
            """);

        var jobId = await acme.StartParquetUploadAsync("latest", file);
        var job = await acme.WaitForJobEndAsync(jobId, seconds: 180);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
        var sandbox = _deployment.Sandbox;
        Assert.That(await sandbox.ScalarAsync<long>("select count(*) from tenant_acme.latest"), Is.EqualTo(last));
        Assert.That(await sandbox.ScalarAsync<decimal>("select value from tenant_acme.latest where id = 7"), Is.EqualTo((last + 7) * 0.001m),
            "the last row with the key wins");
        Assert.That(await sandbox.ScalarAsync<decimal>("select sum(value) from tenant_acme.latest"),
            Is.EqualTo(Enumerable.Range(RowsPerGroup + 1, last).Sum(i => i * 0.001m)), "every key once, with its last row's value");
        Assert.That(_deployment.Workers.Any(w => Regex.IsMatch(w.Log(), $@"Job {jobId}: chunk \d+ applied to the table")),
            Is.True, "chunks ahead of their turn were staged, then applied in file order");
    }

    [Test]
    public async Task Should_fail_the_job_naming_the_row_group_when_a_page_in_a_later_chunk_does_not_decode()
    {
        using var acme = _deployment.Client(Keys.Acme);
        // Keyless: its chunks load straight into the table, with no eviction or key check between them.
        await acme.CreateDatasetAsync(new { name = "broken", columns = TestParquet.ReadingColumns, format = "parquet" });
        var file = await TestParquet.ReadingsAsync(Groups, RowsPerGroup);
        await using (var reader = await ParquetReader.CreateAsync(new MemoryStream(file)))
        {
            // Row group 14's value column overwritten where its first page starts: the footer reads, that page does not.
            file.AsSpan((int)reader.Metadata!.RowGroups[13].Columns[1].MetaData!.DataPageOffset, 32).Fill(0xFF);
        }

        var job = await acme.WaitForJobEndAsync(await acme.StartParquetUploadAsync("broken", file), seconds: 180);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("corrupt_file"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(),
            Does.StartWith("The Parquet file is corrupt: row group 14 of 16, column 'value', cannot be decoded (")
                .And.EndWith("). The rows its chunks loaded before stay; the rest are not loaded."));
        var loaded = await _deployment.Sandbox.ScalarAsync<long>("select count(*) from tenant_acme.broken");
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(loaded), "the job says exactly what stays");
        Assert.That(loaded, Is.LessThan(Rows - RowsPerGroup), "the broken row group and the rest of its chunk are not loaded");
    }

    private static Task CreateReadingsAsync(HttpClient client, string name) =>
        client.CreateDatasetAsync(new { name, columns = TestParquet.ReadingColumns, key = new[] { "id" }, format = "parquet" });

    /// <summary>The job's progress as its view shows it, once it shows at least <paramref name="rows"/> rows loaded.</summary>
    private static async Task<JsonNode> ProgressAtLeastAsync(HttpClient client, Guid jobId, long rows)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            var job = JsonNode.Parse(await client.GetStringAsync($"/v1/jobs/{jobId}"))!;
            if (job["progress"]?["rowsLoaded"]?.GetValue<long>() >= rows)
            {
                return job["progress"]!;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"the job showed fewer than {rows} rows loaded within 120 s");
        return null!;
    }

    private async Task<List<long>> ChunkStartsAsync(Guid jobId)
    {
        var starts = new List<long>();
        await using var command = _deployment.Sandbox.Db.CreateCommand(
            "select start_offset from ingestion.upload_chunks where job_id = @id order by chunk");
        command.Parameters.AddWithValue("id", jobId);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            starts.Add(reader.GetInt64(0));
        }

        return starts;
    }
}
