using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Copy;
using Npgsql;
using static Ingestion.Tests.EndToEnd.Chunks.ChunkedLoads;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// A file larger than <c>Processing:ChunkBytes</c> is loaded in chunks by two workers; the same
/// file loaded by the shared deployment (whose chunks are 64 MiB, so the file is one chunk and
/// takes the sequential path) is the reference: the table and the rejects must be the same.
/// </summary>
public sealed class When_a_large_file_is_loaded_in_chunks
{
    // Every record is 15 bytes and holds a quoted line break 10 bytes after it starts; a chunk is
    // cut at the first record end at least a share after the previous cut, which always falls on a
    // record end. The first test's file of 2,981 records is 44,723 bytes: 43 chunks of ChunkBytes,
    // rounded up to 44 for the 4 in flight, shares of 1,016 bytes ≡ 11 (mod 15), so every cut is first
    // tried exactly on a quoted line break (after "id,body\n", whose break is byte 7).
    private const int RecordBytes = 15;
    private const int ChunkBytes = RecordBytes * 70 + 11;
    private const int QuotedRecords = 2981;
    private const int InFlight = 4;

    private Deployment _chunked = null!;
    private HttpClient _client = null!;
    private HttpClient _reference = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _chunked = await Deployment.StartAsync(TestRun.Servers, "chunks", new Dictionary<string, string>
        {
            ["Processing__ChunkBytes"] = ChunkBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Processing__ChunksInFlightPerJob"] = InFlight.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Processing__ChunkUpserts"] = "true",
            ["Processing__BatchRows"] = "7",
        }, workers: 2);
        _client = _chunked.Client(Keys.Acme);
        _reference = TestRun.Shared.Client(Keys.Acme);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _client.Dispose();
        _reference.Dispose();
        await _chunked.DisposeAsync();
    }

    [Test]
    public async Task Should_load_quoted_line_breaks_at_chunk_boundaries_as_one_chunk_does()
    {
        var name = "notes_" + Guid.NewGuid().ToString("N")[..8];
        var columns = new object[] { new { name = "id", type = "bigint", required = true }, new { name = "body", type = "text", required = true } };
        await CreateDatasetAsync(_client, name, columns);
        await CreateDatasetAsync(_reference, name, columns);
        var csv = new StringBuilder("id,body\n");
        for (var i = 1; i <= QuotedRecords; i++)
        {
            // LF and CRLF inside quotes, and now and then an id that is no number (a reject, by its line).
            var id = i % 97 == 0 ? $"{i:D5}x" : $"{i:D6}";
            csv.Append(id).Append(i % 2 == 0 ? ",\"ab\ncd\"\n" : ",\"a\r\ncd\"\n");
        }

        var bytes = Encoding.UTF8.GetBytes(csv.ToString());
        Assert.That(bytes.Length, Is.EqualTo(8 + QuotedRecords * RecordBytes));
        var sizing = new ChunkSizing(ChunkBytes, InFlight);
        Assert.That(ChunkSizing.ShareEnd(bytes.Length, 1, sizing.Count(bytes.Length)) % RecordBytes, Is.EqualTo(11),
            "each cut is first tried on a quoted line break");

        var chunked = await LoadAsync(_client, name, bytes);
        var sequential = await LoadAsync(_reference, name, bytes);

        var chunks = await ChunksAsync(_chunked, chunked["jobId"]!.GetValue<Guid>());
        Assert.That(chunks, Is.EqualTo(sizing.Count(bytes.Length)), "the file was cut into 44 chunks, a multiple of the 4 in flight");
        var share = ChunkSizing.ShareEnd(bytes.Length, 1, chunks);
        var uneven = await _chunked.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.upload_chunks where job_id = @id and chunk < @last and end_offset - start_offset not between @share and @share + 14",
            ("id", chunked["jobId"]!.GetValue<Guid>()), ("last", (int)chunks - 1), ("share", share));
        Assert.That(uneven, Is.Zero, "every chunk but the last is its share, or longer by less than a record");
        var misplaced = await _chunked.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.upload_chunks where job_id = @id and (start_offset - 7) % 15 <> 0",
            ("id", chunked["jobId"]!.GetValue<Guid>()));
        Assert.That(misplaced, Is.Zero, "every chunk starts at the end of a record, never at a quoted line break");
        Assert.That(await RowsAsync(_chunked, name), Is.EqualTo(await RowsAsync(TestRun.Shared, name)).And.Exactly(QuotedRecords - 30).Items);
        foreach (var count in new[] { "rowsLoaded", "rowsRejected", "bytesRead" })
        {
            Assert.That(chunked["progress"]![count]!.GetValue<long>(), Is.EqualTo(sequential["progress"]![count]!.GetValue<long>()), count);
        }

        var rejects = await RejectsAsync(chunked);
        Assert.That(rejects.Select(r => r.Line), Is.EqualTo(Enumerable.Range(1, QuotedRecords).Where(i => i % 97 == 0).Select(i => 2L * i)),
            "a reject's line is the line it starts on in the file (each record spans two)");
        Assert.That(Describe(rejects), Is.EqualTo(Describe(await RejectsAsync(sequential))));
    }

    [Test]
    public async Task Should_apply_the_reject_limit_to_the_whole_file()
    {
        var name = "limited_" + Guid.NewGuid().ToString("N")[..8];
        using (var response = await _client.PostAsJsonAsync("/v1/datasets", new
        {
            name,
            columns = new object[] { new { name = "id", type = "bigint", required = true }, new { name = "body", type = "text" } },
            maxRejectedRows = 5,
        }))
        {
            Assert.That(response.IsSuccessStatusCode, Is.True, await response.Content.ReadAsStringAsync());
        }

        // One bad id every 97 records: no chunk (about 70 records) holds more than one.
        var csv = new StringBuilder("id,body\n");
        for (var i = 1; i <= 3000; i++)
        {
            csv.Append(i % 97 == 0 ? $"{i:D5}x" : $"{i:D6}").Append(",\"ab\ncd\"\n");
        }

        var job = await _client.WaitForJobEndAsync(await _client.StartUploadAsync(name, Encoding.UTF8.GetBytes(csv.ToString())), 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("reject_limit"));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.GreaterThan(5), "the file's rejects, summed over its chunks");
        Assert.That(await _chunked.Sandbox.ScalarAsync<long>(
            "select max(rows_rejected) from ingestion.upload_chunks where job_id = @id", ("id", job["jobId"]!.GetValue<Guid>())),
            Is.LessThanOrEqualTo(1), "no chunk crossed the limit on its own");
    }

    [TestCase("reject")]
    [TestCase("upsert")]
    public async Task Should_decide_keys_repeated_across_chunks_as_a_sequential_load_does(string policy)
    {
        var name = "prices_" + policy + "_" + Guid.NewGuid().ToString("N")[..8];
        var columns = new object[] { new { name = "sku", type = "varchar(20)" }, new { name = "price", type = "integer", required = true } };
        await CreateDatasetAsync(_client, name, columns, ["sku"], policy);
        await CreateDatasetAsync(_reference, name, columns, ["sku"], policy);

        // Rows already in the table, from a small file (one chunk on both).
        var before = Encoding.UTF8.GetBytes("sku,price\n" + string.Concat(Enumerable.Range(0, 40).Select(k => $"S{k},-1\n")));
        await LoadAsync(_client, name, before);
        await LoadAsync(_reference, name, before);

        // Keys come back every 700 lines, so most repeat in another chunk, earlier or later.
        var csv = new StringBuilder("sku,price\n");
        for (var i = 1; i <= 3000; i++)
        {
            csv.Append('S').Append(i % 700).Append(',').Append(i).Append('\n');
        }

        var bytes = Encoding.UTF8.GetBytes(csv.ToString());
        var chunked = await LoadAsync(_client, name, bytes);
        var sequential = await LoadAsync(_reference, name, bytes);

        var jobId = chunked["jobId"]!.GetValue<Guid>();
        Assert.That(await ChunksAsync(_chunked, jobId), Is.GreaterThan(20));
        // Under upsert the chunks ahead of their turn are staged, then applied in file order. Under reject they load
        // in parallel, and whether one is evicted (then the job stages) depends on timing alone: nothing is asserted.
        if (policy == "upsert")
        {
            var applied = _chunked.Workers.Any(w => Regex.IsMatch(w.Log(), $@"Job {jobId}: chunk \d+ applied to the table"));
            Assert.That(applied, Is.True, "chunks ahead of their turn were staged, then applied in file order");
        }
        var rows = await RowsAsync(_chunked, name);
        Assert.That(rows, Is.EqualTo(await RowsAsync(TestRun.Shared, name)).And.Exactly(700).Items);
        Assert.That(chunked["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(sequential["progress"]!["rowsLoaded"]!.GetValue<long>()));
        Assert.That(chunked["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(sequential["progress"]!["rowsRejected"]!.GetValue<long>()));

        var rejects = await RejectsAsync(chunked);
        var expected = await RejectsAsync(sequential);
        if (policy == "reject")
        {
            // The first line of each key wins (or the row from before); every later line is the reject.
            Assert.That(rejects.Select(r => (r.Line, Encoding.UTF8.GetString(r.Record))),
                Is.EqualTo(expected.Select(r => (r.Line, Encoding.UTF8.GetString(r.Record)))).And.Exactly(3000 - 660).Items);
            Assert.That(rejects.All(r => r.Column == "sku" && r.Reason.Contains("(sku)=(S", StringComparison.Ordinal)), Is.True);
        }
        else
        {
            Assert.That(rejects, Is.Empty);
            Assert.That(rows.Single(r => r.StartsWith("S0=", StringComparison.Ordinal)), Is.EqualTo("S0=2800"), "the last line with the key wins");
        }
    }

    [Test]
    public async Task Should_cut_json_lines_at_line_breaks_and_load_them_as_one_chunk_does()
    {
        var name = "notes_jsonl_" + Guid.NewGuid().ToString("N")[..8];
        var dataset = new
        {
            name,
            format = "jsonl",
            columns = new object[] { new { name = "id", type = "bigint", required = true }, new { name = "body", type = "text", source = "$.note.body" } },
        };
        foreach (var client in new[] { _client, _reference })
        {
            using var response = await client.PostAsJsonAsync("/v1/datasets", dataset);
            Assert.That(response.IsSuccessStatusCode, Is.True, await response.Content.ReadAsStringAsync());
        }

        // Escaped line breaks inside strings are no boundaries; now and then an id that is no number (a reject, by its line).
        var jsonl = new StringBuilder();
        for (var i = 1; i <= 350; i++)
        {
            var id = i % 97 == 0 ? $"\"{i}x\"" : i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            jsonl.Append("{\"id\":").Append(id).Append(",\"note\":{\"body\":\"line\\none ").Append(i).Append("\"}}").Append(i % 2 == 0 ? "\n" : "\r\n");
        }

        var bytes = Encoding.UTF8.GetBytes(jsonl.ToString());
        var chunked = await LoadAsync(_client, name, bytes);
        var sequential = await LoadAsync(_reference, name, bytes);

        Assert.That(await ChunksAsync(_chunked, chunked["jobId"]!.GetValue<Guid>()), Is.GreaterThan(10), "the file was cut into many chunks");
        Assert.That(await RowsAsync(_chunked, name), Is.EqualTo(await RowsAsync(TestRun.Shared, name)).And.Exactly(350 - 3).Items);
        var rejects = await RejectsAsync(chunked);
        Assert.That(rejects.Select(r => r.Line), Is.EqualTo(Enumerable.Range(1, 350).Where(i => i % 97 == 0).Select(i => (long)i)));
        Assert.That(Describe(rejects), Is.EqualTo(Describe(await RejectsAsync(sequential))));
    }

    /// <remarks>
    /// gzipped (stored, so that it is larger than a chunk compressed too), the file is cut in its text at a chunk's bytes
    /// rather than in even shares, so chunk 1 is a little longer and the third runs to the end (a compressed file's chunk is
    /// at least as long as the text before it); the eviction reads chunk 1's keys back through the decompressor.
    /// </remarks>
    [TestCase(false)]
    [TestCase(true)]
    public async Task Should_evict_a_later_chunk_that_loaded_an_earlier_line_s_key_first(bool gzipped)
    {
        var name = "codes_" + Guid.NewGuid().ToString("N")[..8];
        await CreateDatasetAsync(_client, name,
            [new { name = "sku", type = "varchar(20)" }, new { name = "price", type = "integer", required = true }], ["sku"], "reject");

        // 13-byte records, 3,910 bytes: four even shares of 977 bytes, chunks of records 1-76, 77-152, 153-228, 229-300
        // (gzipped: 1-82, 83-165, 166-300). Record 100 (chunk 1) repeats the key of record 5 (chunk 0). Records 1 and
        // 120 each wait for an advisory lock the test holds, so the order is the test's, not a race of sleeps: chunk 1
        // commits the key while chunk 0's first batch waits at record 1; chunk 1's batch with record 120 (not its last) is
        // still in flight (holding its chunk's row) when chunk 0 meets the key and evicts it. Once released, a lock no
        // longer holds anyone (a redone batch passes through).
        var hold = Random.Shared.Next(1, int.MaxValue);
        await _chunked.Sandbox.ExecuteAsync($"""
            create function tenant_acme.{name}_hold() returns trigger language plpgsql as $$
            begin
                if new.price in (1, 120) then
                    perform pg_advisory_xact_lock_shared({hold}, new.price);
                end if;
                return new;
            end $$;
            create trigger hold before insert on tenant_acme.{name} for each row execute function tenant_acme.{name}_hold();
            """);
        var csv = new StringBuilder("sku,price\n");
        for (var i = 1; i <= 300; i++)
        {
            csv.Append(i == 100 ? "K0005" : $"K{i:D4}").Append(',').Append($"{i:D6}").Append('\n');
        }

        await using var holds = await _chunked.Sandbox.Db.OpenConnectionAsync();
        await HoldAsync(holds, "pg_advisory_lock", hold, 1);
        await HoldAsync(holds, "pg_advisory_lock", hold, 120);
        JsonNode job;
        try
        {
            var text = Encoding.UTF8.GetBytes(csv.ToString());
            var load = LoadAsync(_client, name, gzipped ? StoredGzip(text) : text);
            await WaitUntilAsync(load, "chunk 1 has committed K0005 and both held records wait", $"""
                select exists (select from tenant_acme.{name} where sku = 'K0005' and price = 100)
                   and (select count(*) from pg_locks where locktype = 'advisory' and classid::bigint = @hold
                        and objid::bigint in (1, 120) and not granted) = 2
                """, ("hold", (long)hold));
            await HoldAsync(holds, "pg_advisory_unlock", hold, 1);
            await WaitUntilAsync(load, "chunk 0's eviction waits for chunk 1's batch in flight", """
                select exists (select from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'
                               and query like 'select start_offset, start_line, byte_offset, line from ingestion.upload_chunks%')
                """);
            await HoldAsync(holds, "pg_advisory_unlock", hold, 120);
            job = await load;
        }
        finally
        {
            await HoldAsync(holds, "pg_advisory_unlock_all", null, null);
        }

        var jobId = job["jobId"]!.GetValue<Guid>();
        Assert.That(await ChunksAsync(_chunked, jobId), Is.EqualTo(gzipped ? 3 : 4));
        var logs = string.Concat(_chunked.Workers.Select(w => w.Log()));
        Assert.That(logs, Does.Contain($"Job {jobId}: chunk 0 holds a key that chunk 1 loaded first"));
        Assert.That(logs, Does.Contain($"Job {jobId}: chunk 1 was evicted (eviction 1) while it loaded"),
            "chunk 1's loader found the eviction at its next batch, and loaded the chunk again");
        var rows = await RowsAsync(_chunked, name);
        Assert.That(rows, Has.Length.EqualTo(299));
        Assert.That(rows, Does.Contain("K0005=5"), "the first line with the key wins, though a later chunk loaded it first");
        var rejects = await RejectsAsync(job);
        Assert.That(rejects.Select(r => (r.Line, Encoding.UTF8.GetString(r.Record))), Is.EqualTo(new[] { (101L, "K0005,000100") }),
            "the later line is the reject, on its line in the file (the header is line 1)");
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(299));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(1));
        Assert.That(await _chunked.Sandbox.ScalarAsync<long>(
            "select rows_loaded from ingestion.dataset_changes where tenant_id = 'acme' and dataset = @name", ("name", name)),
            Is.EqualTo(299), "the dataset's size counts the evicted rows out");
    }

    /// <summary>Takes or lets go of the test's session-level advisory lock (<paramref name="key"/>, <paramref name="record"/>).</summary>
    private static async Task HoldAsync(NpgsqlConnection connection, string function, int? key, int? record)
    {
        await using var command = new NpgsqlCommand(
            key is null ? $"select {function}()" : $"select {function}(@key, @record)", connection);
        if (key is not null)
        {
            command.Parameters.AddWithValue("key", key.Value);
            command.Parameters.AddWithValue("record", record!.Value);
        }

        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Polls the chunked deployment's database until <paramref name="sql"/> is true; fails if the load ends first.</summary>
    private async Task WaitUntilAsync(Task<JsonNode> load, string what, string sql, params (string Name, object Value)[] parameters)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await _chunked.Sandbox.ScalarAsync<bool>(sql, parameters) is not true)
        {
            if (load.IsCompleted)
            {
                await load;
                Assert.Fail($"The job ended before: {what}.");
            }

            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), what);
            await Task.Delay(50);
        }
    }

    private static async Task<string[]> RowsAsync(Deployment deployment, string dataset)
    {
        var columns = dataset.StartsWith("notes_", StringComparison.Ordinal) ? "id || '=' || body order by id" : "sku || '=' || price order by sku";
        return await deployment.Sandbox.ScalarAsync<string[]>($"select array_agg({columns}) from tenant_acme.{dataset}") ?? [];
    }

    private static IEnumerable<string> Describe(List<RejectRow> rejects) =>
        rejects.Select(r => $"{r.Line}|{r.Column}|{r.Reason}|{Encoding.UTF8.GetString(r.Record)}");

    /// <summary>A gzip file whose deflate blocks are stored, not compressed: as large as its text, and a gzip all the same.</summary>
    private static byte[] StoredGzip(byte[] text)
    {
        using var compressed = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.NoCompression))
        {
            gzip.Write(text);
        }

        return compressed.ToArray();
    }
}
