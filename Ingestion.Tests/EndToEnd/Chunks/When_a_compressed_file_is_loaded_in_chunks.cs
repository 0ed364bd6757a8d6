using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.EndToEnd.Formats;
using Ingestion.Tests.Infrastructure;
using static Ingestion.Tests.EndToEnd.Chunks.ChunkedLoads;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// A gzip or zstd file larger than <c>Processing:ChunkBytes</c> is cut into chunks in its decompressed text, which two
/// workers load at once, each chunk decompressing the object from its start and skipping to its own part. Chunks after
/// the first are at least as long as the text before them. The rows, their rejects' lines, and both sizes the job counts
/// are those of a load in one stream; a worker killed in the middle of chunks loses and doubles nothing; broken data found
/// by the scan fails the job.
/// </summary>
public sealed class When_a_compressed_file_is_loaded_in_chunks
{
    private Deployment _deployment = null!;
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _deployment = await Deployment.StartAsync(TestRun.Servers, "gzchunks", new Dictionary<string, string>
        {
            ["Processing__ChunkBytes"] = "32768",
            ["Processing__ChunksInFlightPerJob"] = "2",
            ["Processing__BatchRows"] = "500",
            ["Processing__ProgressInterval"] = "00:00:00.050",
        }, workers: 2);
        _acme = _deployment.Client(Keys.Acme);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        await _deployment.DisposeAsync();
    }

    /// <summary>Rows of about 70 bytes; every 9,973rd has an id that is no number, a reject that names its line.</summary>
    private static byte[] Events(int rows)
    {
        var csv = new StringBuilder("id,payload\n");
        for (var i = 1; i <= rows; i++)
        {
            csv.Append(i % 9973 == 0 ? $"{i}x" : i.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .Append(",event number ").Append(i).Append(" with some padding to make the file longer\n");
        }

        return Encoding.UTF8.GetBytes(csv.ToString());
    }

    [Test]
    public async Task Should_cut_a_gzip_file_in_its_text_and_load_it_as_one_stream_does()
    {
        const int rows = 300_000;
        var name = "events_" + Guid.NewGuid().ToString("N")[..8];
        await CreateDatasetAsync(_acme, name, Columns);
        var text = Events(rows);
        var gzip = When_a_file_is_compressed.Gzip(text);
        Assert.That(gzip.Length, Is.GreaterThan(32768), "larger than a chunk, compressed");

        var jobId = await _acme.StartUploadAsync(name, gzip);
        var seen = await WatchProgressAsync(jobId);
        var job = await _acme.WaitForJobEndAsync(jobId, seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        var chunks = await ChunkRangesAsync(jobId);
        Assert.That(chunks, Has.Count.GreaterThanOrEqualTo(6), "the file was cut into chunks");
        Assert.That(chunks[^1].End, Is.EqualTo(text.Length), "the last chunk ends at the end of the text");
        foreach (var (start, end) in chunks.Skip(1).SkipLast(1))
        {
            Assert.That(end - start, Is.GreaterThanOrEqualTo(start), "a chunk after the first is at least as long as the text before it");
        }

        var rejected = Enumerable.Range(1, rows).Where(i => i % 9973 == 0).ToList();
        var (count, distinct, max) = await IdCountsAsync(_deployment, name);
        Assert.That(count, Is.EqualTo(rows - rejected.Count), "nothing lost, nothing doubled");
        Assert.That(distinct, Is.EqualTo(count));
        Assert.That(max, Is.EqualTo(rows));
        var rejects = await RejectsAsync(job);
        Assert.That(rejects.Select(r => r.Line), Is.EqualTo(rejected.Select(i => i + 1L)), "a reject names its line in the file");

        var progress = job["progress"]!;
        Assert.That(progress["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(rows - rejected.Count));
        Assert.That(progress["rowsRejected"]!.GetValue<long>(), Is.EqualTo(rejected.Count));
        Assert.That(progress["bytesTotal"]!.GetValue<long>(), Is.EqualTo(gzip.Length), "the object is stored compressed");
        Assert.That(progress["bytesRead"]!.GetValue<long>(), Is.EqualTo(gzip.Length));
        Assert.That(progress["uncompressedBytesRead"]!.GetValue<long>(), Is.EqualTo(text.Length - 1), "to the end of the last record");

        // While it loaded, progress counted the object's bytes (the chunks' shares of their parts) and the text's.
        var midway = seen.Where(p => p.BytesRead > 0 && p.BytesRead < gzip.Length).ToList();
        Assert.That(midway, Is.Not.Empty, "progress was seen part of the way: " + string.Join(" ", seen));
        Assert.That(midway, Has.All.Matches<(long BytesRead, long? Uncompressed)>(p => p.Uncompressed > p.BytesRead && p.Uncompressed < text.Length),
            "the text read is counted too, and is larger than the compressed bytes read");
        Assert.That(seen.Select(p => p.BytesRead), Is.Ordered, "progress never goes back");
    }

    [TestCase(false, TestName = "Should_cut_a_zstd_json_lines_file_and_load_every_line")]
    [TestCase(true, TestName = "Should_cut_a_zstd_utf16_json_lines_file_in_its_utf8_text_and_load_every_line")]
    public async Task Should_cut_a_zstd_json_lines_file(bool utf16)
    {
        const int lines = 60_000;
        var name = "events_jsonl_" + Guid.NewGuid().ToString("N")[..8];
        using (var response = await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name,
            format = "jsonl",
            columns = new object[] { new { name = "id", type = "bigint", required = true }, new { name = "payload", type = "text", source = "$.body.text" } },
        }))
        {
            Assert.That(response.IsSuccessStatusCode, Is.True, await response.Content.ReadAsStringAsync());
        }

        var jsonl = new StringBuilder();
        for (var i = 1; i <= lines; i++)
        {
            jsonl.Append("{\"id\":").Append(i).Append(",\"body\":{\"text\":\"line\\nbreak in ").Append(i).Append(" with some padding, Zürich €\"}}\n");
        }

        // As Windows PowerShell writes it: UTF-16 little-endian with its byte order mark, which the UTF-8 text does not keep.
        var text = utf16 ? [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(jsonl.ToString())] : Encoding.UTF8.GetBytes(jsonl.ToString());
        var zstd = new ZstdSharp.Compressor(3).Wrap(text).ToArray();
        var job = await LoadAsync(_acme, name, zstd);

        Assert.That(await ChunksAsync(_deployment, job["jobId"]!.GetValue<Guid>()), Is.GreaterThan(2), "the file was cut into chunks");
        Assert.That(await _deployment.Sandbox.ScalarAsync<bool>("select utf16_json from ingestion.upload_checkpoints where job_id = @id",
            ("id", job["jobId"]!.GetValue<Guid>())), Is.EqualTo(utf16), "workers before migration 0038 are fenced out of it");
        var (count, distinct, max) = await IdCountsAsync(_deployment, name);
        Assert.That((count, distinct, max), Is.EqualTo((lines, lines, lines)), "every line once");
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>(
                $"select count(*) from tenant_acme.{name} where payload = E'line\\nbreak in ' || id || ' with some padding, Zürich €'"),
            Is.EqualTo(lines), "every line's text as Unicode");
        Assert.That(job["progress"]!["bytesRead"]!.GetValue<long>(), Is.EqualTo(zstd.Length));
        Assert.That(job["progress"]!["uncompressedBytesRead"]!.GetValue<long>(),
            Is.EqualTo(Encoding.UTF8.GetByteCount(jsonl.ToString()) - 1), "counted in UTF-8, to the end of the last line");
    }

    [Test]
    public async Task Should_cut_a_windows_1252_gzip_in_its_utf8_text_and_land_every_character()
    {
        const int rows = 60_000;
        var name = "events_1252_" + Guid.NewGuid().ToString("N")[..8];
        await CreateDatasetAsync(_acme, name, Columns);
        var text = new StringBuilder("id,payload\r\n");
        for (var i = 1; i <= rows; i++)
        {
            text.Append(i).Append(",Café Straße €").Append(i).Append(" with some padding\r\n");
        }

        var gzip = When_a_file_is_compressed.Gzip(CodePagesEncodingProvider.Instance.GetEncoding(1252)!.GetBytes(text.ToString()));
        using var content = new ByteArrayContent(gzip);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/gzip");
        using var response = await _acme.PostAsync($"/v1/datasets/{name}/uploads?encoding=windows-1252", content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), body);
        var job = await _acme.WaitForJobEndAsync(JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>(), seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(await ChunksAsync(_deployment, job["jobId"]!.GetValue<Guid>()), Is.GreaterThan(2), "the file was cut into chunks");
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>(
                $"select count(*) from tenant_acme.{name} where payload = 'Café Straße €' || id || ' with some padding'"),
            Is.EqualTo(rows), "every row once, its accents and euro sign as Unicode");
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
        Assert.That(job["progress"]!["bytesRead"]!.GetValue<long>(), Is.EqualTo(gzip.Length));
        Assert.That(job["progress"]!["uncompressedBytesRead"]!.GetValue<long>(), Is.EqualTo(Encoding.UTF8.GetByteCount(text.ToString()) - 2),
            "counted in UTF-8, to the end of the last record (before its CRLF)");
    }

    [Test]
    public async Task Should_load_every_row_exactly_once_when_both_workers_die_among_chunks()
    {
        const int rows = 300_000;
        var name = "events_kill_" + Guid.NewGuid().ToString("N")[..8];
        // Keyed (reject): a row loaded twice would be a reject ("already in the table"), a skipped one a missing row.
        await CreateDatasetAsync(_acme, name, Columns, key: ["id"]);
        var text = Events(rows);
        var jobId = await _acme.StartUploadAsync(name, When_a_file_is_compressed.Gzip(text));
        var partLoaded = 0L;
        foreach (var fraction in new[] { 0.3, 0.7 })
        {
            await WaitForChunkRowsAsync(_deployment, jobId, (long)(rows * fraction));
            partLoaded += await _deployment.Sandbox.ScalarAsync<long>(
                "select count(*) from ingestion.upload_chunks where job_id = @id and state = 'sent' and byte_offset > start_offset",
                ("id", jobId));
            foreach (var worker in _deployment.Workers)
            {
                worker.Kill();
            }

            await _deployment.StartWorkerAsync();
            await _deployment.StartWorkerAsync();
        }

        var job = await _acme.WaitForJobEndAsync(jobId, seconds: 180);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(partLoaded, Is.Positive, "chunks were part-loaded when the workers died");
        var rejected = Enumerable.Range(1, rows).Count(i => i % 9973 == 0);
        var (count, distinct, max) = await IdCountsAsync(_deployment, name);
        Assert.That(count, Is.EqualTo(rows - rejected), "nothing lost, nothing doubled");
        Assert.That(distinct, Is.EqualTo(count));
        Assert.That(max, Is.EqualTo(rows));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(rejected), "only the ids that are no numbers");
        Assert.That((await RejectsAsync(job)).Select(r => r.Reason), Has.None.Contains("already"), "no row was loaded twice");
    }

    [Test]
    public async Task Should_fail_a_chunked_gzip_whose_checksum_breaks_saying_so()
    {
        var name = "events_broken_" + Guid.NewGuid().ToString("N")[..8];
        await CreateDatasetAsync(_acme, name, Columns);
        // Its data decompresses to the end, but the checksum after it does not match: only a reader that reaches the end
        // of the object can tell, which is the scan (a chunk stops at the end of its part), and the scan reaches it before
        // it records the last chunk.
        var gzip = When_a_file_is_compressed.Gzip(Events(100_000));
        gzip[^8] ^= 0xFF;

        var jobId = await _acme.StartUploadAsync(name, gzip);
        var job = await _acme.WaitForJobEndAsync(jobId, seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("corrupt_file"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.StartWith("The file's compressed data is corrupt or truncated")
            .And.Contain("The rows its chunks loaded before it was found stay"));
        Assert.That(await ChunksAsync(_deployment, jobId), Is.GreaterThan(1), "it was being loaded in chunks");
        var (count, _, _) = await IdCountsAsync(_deployment, name);
        Assert.That(count, Is.LessThan(100_000), "a broken file is not a success");
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(count), "what the job says is loaded is what is in the table");
    }

    private static readonly object[] Columns =
        [new { name = "id", type = "bigint", required = true }, new { name = "payload", type = "text", required = true }];

    /// <summary>The job's progress as a frontend polls it, until it ends: the object's bytes read and the text's.</summary>
    private async Task<List<(long BytesRead, long? Uncompressed)>> WatchProgressAsync(Guid jobId)
    {
        var seen = new List<(long, long?)>();
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            var job = await _acme.GetJsonAsync($"/v1/jobs/{jobId}");
            if (job["progress"] is JsonObject progress && progress["bytesRead"] is { } read)
            {
                seen.Add((read.GetValue<long>(), progress["uncompressedBytesRead"]?.GetValue<long>()));
            }

            if (job["status"]!.GetValue<string>() is "completed" or "failed" or "cancelled")
            {
                break;
            }

            await Task.Delay(20);
        }

        return seen;
    }

    private async Task<List<(long Start, long End)>> ChunkRangesAsync(Guid jobId)
    {
        await using var command = _deployment.Sandbox.Db.CreateCommand(
            "select start_offset, end_offset from ingestion.upload_chunks where job_id = @id order by chunk");
        command.Parameters.AddWithValue("id", jobId);
        await using var reader = await command.ExecuteReaderAsync();
        var ranges = new List<(long, long)>();
        while (await reader.ReadAsync())
        {
            ranges.Add((reader.GetInt64(0), reader.GetInt64(1)));
        }

        return ranges;
    }
}
