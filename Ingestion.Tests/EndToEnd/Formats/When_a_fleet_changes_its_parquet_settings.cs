using Amazon.S3.Model;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Storage;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Workers.Parquet;
using Ingestion.Workers.Uploads;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// Parquet settings a fleet changes while jobs run (a rolling restart with the new value). <c>Processing:ParquetMaxColumnChunkBytes</c>
/// lowered while a Parquet job loads: a worker that carries the job on reads its chunks and resumed slices to the end, as the
/// job was accepted when it started, and a new job is still refused by the limit. <c>Processing:ChunkParquet</c> off, the
/// switch a fleet upgraded from before migration 0034 keeps while old workers run: a file of several row groups larger than
/// a chunk is not cut (it loads as one stream). A Parquet file of three row groups in the shared S3 bucket, read by the workers' record source
/// (no bus, no database).
/// </summary>
public sealed class When_a_fleet_changes_its_parquet_settings
{
    private const int RowsPerGroup = 1000;

    private static readonly DatasetDefinition Readings = new("readings", [
        new DatasetColumn("id", ColumnType.BigInt, Required: true),
        new DatasetColumn("value", ColumnType.Numeric(10, 3), Required: true),
        new DatasetColumn("label", ColumnType.Text, Required: false),
    ], []);

    private ObjectStore _store = null!;
    private ObjectInfo _info = null!;
    private ProcessUpload _job = null!;

    [OneTimeSetUp]
    public async Task PutAsync()
    {
        var sandbox = TestRun.Shared.Sandbox;
        var key = $"tests/parquet-settings-{Guid.NewGuid():N}.parquet";
        await sandbox.S3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = sandbox.Bucket,
            Key = key,
            InputStream = new MemoryStream(await TestParquet.ReadingsAsync(groups: 3, RowsPerGroup)),
            UseChunkEncoding = false,
        });
        _store = new ObjectStore(sandbox.S3, Options.Create(new S3Options { Bucket = sandbox.Bucket }));
        _info = (await _store.HeadAsync(sandbox.Bucket, key, CancellationToken.None))!;
        _job = new ProcessUpload(Guid.NewGuid(), "acme", Readings.Name, sandbox.Bucket, key);
    }

    [OneTimeTearDown]
    public async Task DeleteAsync() =>
        await TestRun.Shared.Sandbox.S3.DeleteObjectAsync(TestRun.Shared.Sandbox.Bucket, _job.Key);

    [Test]
    public async Task Should_read_a_started_job_s_row_groups_to_the_end_and_refuse_a_new_job_when_the_chunk_limit_is_lowered()
    {
        var start = await Source(new UploadProcessingOptions()).StartAsync(CancellationToken.None);
        Assert.That(start.Problem, Is.Null, "no limit when the job starts");
        start.Records!.Dispose();

        // Every column chunk of these row groups is larger than 100 bytes decompressed.
        var lowered = Source(new UploadProcessingOptions { ParquetMaxColumnChunkBytes = 100 });
        using (var scan = await lowered.ScanAsync(new RecordPosition(0, 0), new ChunkSizing(1, 1), objectBytes: _info.Size, CancellationToken.None))
        {
            Assert.That((await scan.NextAsync(CancellationToken.None)).End.Offset, Is.EqualTo(RowsPerGroup), "the fork cuts after the first row group");
        }

        using (var second = await lowered.OpenAsync(start.Map!, new RecordPosition(RowsPerGroup, RowsPerGroup), 2 * RowsPerGroup,
                   CancellationToken.None))
        {
            var lines = new List<long>();
            while (second.Read())
            {
                lines.Add(second.Line);
            }

            Assert.That(lines, Is.EqualTo(Enumerable.Range(RowsPerGroup + 1, RowsPerGroup).Select(n => (long)n)),
                "the second row group's rows, each once, under the lowered limit");
        }

        var refused = await Source(new UploadProcessingOptions { ParquetMaxColumnChunkBytes = 100 }).StartAsync(CancellationToken.None);
        Assert.That(refused.Problem?.Code, Is.EqualTo("column_chunk_too_large"), "a job that starts now meets the limit");
        refused.Records?.Dispose();
    }

    [Test]
    public async Task Should_not_cut_a_file_of_several_row_groups_while_chunking_parquet_is_off()
    {
        foreach (var (chunkParquet, chunked) in new[] { (true, true), (false, false) })
        {
            var source = Source(new UploadProcessingOptions { ChunkParquet = chunkParquet });
            var start = await source.StartAsync(CancellationToken.None);
            try
            {
                Assert.That(start.Problem, Is.Null);
                Assert.That(source.LoadsInChunks(_info.Size, chunkBytes: 1), Is.EqualTo(chunked),
                    $"Processing:ChunkParquet {chunkParquet}: three row groups, each more than a chunk");
            }
            finally
            {
                start.Records?.Dispose();
            }
        }
    }

    private ParquetRecordSource Source(UploadProcessingOptions options) =>
        new(_store, _job, _info, Readings, CsvDialect.Default, SourceCompression.None, options, NullLogger.Instance);
}
