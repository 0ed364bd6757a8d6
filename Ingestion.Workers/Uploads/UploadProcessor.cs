using System.Diagnostics;
using System.Net;
using System.Text.Unicode;
using Amazon.S3;
using CsvHelper;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Hosting;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Outbox;
using Ingestion.Platform.Storage;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Workers.Jobs;
using Ingestion.Workers.JsonLines;
using Ingestion.Workers.Parquet;
using Ingestion.Workers.Sagas;
using MassTransit;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Uploads;

/// <summary>
/// Loads an upload job's S3 object into its dataset, exactly once across crashes and
/// redeliveries:
/// <list type="number">
/// <item>A PostgreSQL advisory lock, held by the connection that does the work, keeps any
/// other worker off the job; if the worker dies, its connection and the lock go with it
/// (<see cref="JobWorker"/> takes it, with the tenant slot, before this step runs).</item>
/// <item>Records stream from S3 through their format's reader (<see cref="SourceFor"/>) into binary COPY in batches. Each batch
/// commits together with the job's checkpoint (byte offset and line of the next record,
/// counts), and with its rejects.</item>
/// <item>Any attempt starts at the checkpoint with a ranged GET, pinned to the object's ETag.</item>
/// <item>A message works for at most one slice, so it is acknowledged long before
/// RabbitMQ's consumer timeout; the worker sends the continuation.</item>
/// <item>An object larger than <see cref="UploadProcessingOptions.ChunkBytes"/> is loaded in chunks
/// by several workers at once (<c>UploadProcessor.Chunks.cs</c>).</item>
/// </list>
/// </summary>
public sealed partial class UploadProcessor(
    ObjectStore store,
    DatasetCatalog catalog,
    JobCancellation jobs,
    IOptions<UploadProcessingOptions> options,
    ILogger<UploadProcessor> logger) : IJobStep<ProcessUpload>
{
    private readonly UploadProcessingOptions _options = options.Value;

    public JobKind Kind => UploadJob.Descriptor;

    /// <summary>A finished load says so again, even for a job recorded as failed: the work was done.</summary>
    public bool RunsOutsideWorkingStates => true;

    public ProcessUpload AtAttempt(ProcessUpload command, int attempt) => command with { Attempt = attempt };

    public string TenantOf(ProcessUpload command) => command.TenantId;

    public async Task<JobOutcome> RunAsync(JobRun<ProcessUpload> run, CancellationToken cancellationToken)
    {
        if (run.Command.Chunk is { } chunk)
        {
            return await LoadChunkAsync(run, chunk, cancellationToken);
        }

        var (connection, job, events) = (run.Connection, run.Command, run.Events);
        var dataset = await catalog.FindAsync(job.TenantId, job.Dataset, cancellationToken);
        if (dataset is null)
        {
            return await FailAsync(null, job, null, events, new FileProblem("unknown_dataset",
                $"Tenant '{job.TenantId}' has no dataset '{job.Dataset}'."), cancellationToken);
        }

        var checkpoint = await Checkpoint.FindAsync(connection, job.JobId, cancellationToken);
        if (checkpoint?.FinishedAt is not null)
        {
            return await SayFinishedAsync(job, checkpoint, events, cancellationToken);
        }

        var source = await store.HeadAsync(job.Bucket, job.Key, cancellationToken);
        if (source is null)
        {
            return await FailAsync(connection, job, checkpoint, events, new FileProblem("object_missing",
                $"The object s3://{job.Bucket}/{job.Key} does not exist."), cancellationToken);
        }

        if (checkpoint?.ETag is { } etag && etag != source.ETag)
        {
            return await FailAsync(connection, job, checkpoint, events, ObjectChanged(job), cancellationToken);
        }

        await events.Publish(new UploadProcessingStarted(job.JobId, source.Size, DateTimeOffset.UtcNow, job.Attempt), cancellationToken);
        var dialect = await UploadDialect.ReadAsync(connection, job.JobId, dataset, cancellationToken);
        var format = await UploadDialect.ReadFormatAsync(connection, job.JobId, dataset, cancellationToken);
        IUploadRecords? records = null;
        try
        {
            var (head, text) = await SniffAsync(job, source, format, dialect, cancellationToken);

            // Before a reader is chosen: a file that is not what it is declared as says what it is, whatever the format.
            if (checkpoint is null && FileSniffer.Check(head, format) is { } notLoadable)
            {
                return await FailAsync(connection, job, checkpoint, events, notLoadable, cancellationToken);
            }

            var file = SourceFor(format, job, source, dataset, dialect, text);
            HeaderMap? map;
            FileProblem? problem;
            if (checkpoint is null)
            {
                (records, checkpoint, map, problem) = await StartAsync(connection, job, dataset, file, text, source, cancellationToken);
            }
            else
            {
                (map, problem) = file.Resume(checkpoint.Header);
                if (text.Converted && !checkpoint.Converted)
                {
                    checkpoint = await checkpoint.MarkConvertedAsync(connection, cancellationToken);
                }
            }

            if (problem is not null)
            {
                return await FailAsync(connection, job, checkpoint, events, problem, cancellationToken);
            }

            if (checkpoint!.ChunkBytes is not null)
            {
                // The chunks read the file; the fork only cuts it (a Parquet file's footer stays known to its source).
                records?.Dispose();
                records = null;
                return await ForkAsync(run, dataset, map!, file, checkpoint, cancellationToken);
            }

            return await LoadAsync(run, map!, file, checkpoint, records, cancellationToken);
        }
        catch (Exception e) when (FileFault(e, job, checkpoint) is { } fault)
        {
            return await FailAsync(connection, job, checkpoint, events, fault, cancellationToken);
        }
        catch (UnsupportedFormatException e)
        {
            return await FailAsync(connection, job, checkpoint, events, e.Problem, cancellationToken);
        }
        finally
        {
            records?.Dispose();
        }
    }

    /// <summary>
    /// How the object's bytes become text: its own first bytes say whether it is compressed; the rest of what is sniffed (the
    /// byte order mark, what the file is) is the text inside. Its first bytes of text come with it.
    /// </summary>
    private async Task<(byte[] Head, SourceText Text)> SniffAsync(ProcessUpload job, ObjectInfo source, string format, CsvDialect dialect,
        CancellationToken cancellationToken)
    {
        var compression = source.Size == 0 ? SourceCompression.None
            : CompressionMagic.Of(await store.ReadHeadAsync(job.Bucket, job.Key, CompressionMagic.Length, source.ETag, cancellationToken));
        var head = source.Size == 0 ? []
            : await DecodedSource.ReadHeadAsync(store, job, source.ETag, compression, FileSniffer.SampleSize, cancellationToken);
        // Text is UTF-16 by its byte order mark, else CSV is in its dialect's encoding and JSON Lines in UTF-8: a JSON Lines
        // upload to a dataset whose CSV dialect declares Windows-1252 is still UTF-8.
        var encoding = format switch
        {
            UploadFormat.Csv => DecodedSource.Of(head, dialect),
            UploadFormat.JsonLines => DecodedSource.Of(head, CsvDialect.Default),
            _ => SourceEncoding.Utf8,
        };
        return (head, new SourceText(encoding, compression));
    }

    /// <summary>
    /// The one place an upload's format decides how its file is read: everything after (the batch loop, checkpoints,
    /// rejects, chunks) works on the <see cref="IRecordSource"/> and its <see cref="IUploadRecords"/>.
    /// </summary>
#pragma warning disable CA1859 // The seam returns the interface: the JSON Lines and Parquet sources join the switch.
    private IRecordSource SourceFor(string format, ProcessUpload job, ObjectInfo source, DatasetDefinition dataset, CsvDialect dialect,
        SourceText text) => format switch
    {
        UploadFormat.Csv => new CsvRecordSource(store, job, source.ETag, dataset, dialect, text, _options),
        UploadFormat.JsonLines => new JsonLinesRecordSource(store, job, source.ETag, dataset, text, _options),
        UploadFormat.Parquet => new ParquetRecordSource(store, job, source, dataset, dialect, text.Compression, _options, logger),
        // A format whose reader this build lacks fails at once, saying so.
        _ => throw new UnsupportedFormatException(new FileProblem($"{format}_unsupported",
            $"Files declared '{format}' cannot be loaded by this version of the service yet; nothing was loaded.")),
    };
#pragma warning restore CA1859

    /// <summary>
    /// Cancelled while queued or between two slices. The batches committed so far stay, with the
    /// checkpoint, so a retry carries on from the next line; the object stays in S3 for it.
    /// </summary>
    public async Task<JobOutcome> StopAsync(JobRun<ProcessUpload> run, CancellationToken cancellationToken)
    {
        var checkpoint = await Checkpoint.FindAsync(run.Connection, run.Command.JobId, cancellationToken);
        return checkpoint?.FinishedAt is not null
            ? await SayFinishedAsync(run.Command, checkpoint, run.Events, cancellationToken)
            : await StopAsync(run.Connection, run.Command, checkpoint, run.Events,
                cancellationToken);
    }

    /// <summary>Finished before, but the news may not have left: say it again.</summary>
    private async Task<JobOutcome> SayFinishedAsync(ProcessUpload job, Checkpoint checkpoint, IPublishEndpoint events,
        CancellationToken cancellationToken)
    {
        await events.Publish(Processed(checkpoint, job.Attempt), cancellationToken);
        await DeleteSourceAsync(job);
        return JobOutcome.Done;
    }

    /// <summary>
    /// A job's first attempt, once the file is known to be what it is declared as: the format's start (for CSV, the header).
    /// Nothing is committed before the file is known to be loadable, with columns that fit the dataset.
    /// </summary>
    private async Task<(IUploadRecords?, Checkpoint?, HeaderMap?, FileProblem?)> StartAsync(NpgsqlConnection connection,
        ProcessUpload job, DatasetDefinition dataset, IRecordSource file, SourceText text, ObjectInfo source,
        CancellationToken cancellationToken)
    {
        var start = await file.StartAsync(cancellationToken);
        if (start.Problem is not null)
        {
            return (start.Records, null, null, start.Problem);
        }

        // A large file is loaded in chunks (its format says whether it can be cut); a small one is one chunk, loaded by this
        // message as before. So is a file whose records a scan cannot find (an escape character can hide a line break), a
        // compressed one while Processing:ChunkCompressed is off, and a Parquet file of one row group.
        var chunkBytes = Chunked(dataset) && file.LoadsInChunks(source.Size, _options.ChunkBytes) ? _options.ChunkBytes : (long?)null;
        if (chunkBytes is null && source.Size > _options.ChunkBytes && text.Compression != SourceCompression.None && Chunked(dataset))
        {
            LogCompressedOneChunk(job.JobId, Decompression.Name(text.Compression), source.Size);
        }
        else if (chunkBytes is null && source.Size > _options.ChunkBytes && file is ParquetRecordSource && Chunked(dataset))
        {
            LogParquetOneChunk(job.JobId, source.Size);
        }

        try
        {
            var checkpoint = await Checkpoint.CreateAsync(connection, job.JobId, source.ETag, start.Header, source.Size,
                start.From.Offset, start.From.Line, chunkBytes, start.RowsTotal, text.Converted,
                text.Compression != SourceCompression.None, cancellationToken,
                utf16Json: file is JsonLinesRecordSource && text.Encoding is SourceEncoding.Utf16LittleEndian or SourceEncoding.Utf16BigEndian);
            return (start.Records, checkpoint, start.Map, null);
        }
        catch
        {
            // Not yet the caller's to dispose: a Parquet file's native reader and the object's stream, not left to finalizers.
            start.Records?.Dispose();
            throw;
        }
    }

    private async Task<JobOutcome> LoadAsync(JobRun<ProcessUpload> run, HeaderMap map, IRecordSource file, Checkpoint checkpoint,
        IUploadRecords? records, CancellationToken cancellationToken)
    {
        var (connection, job, events) = (run.Connection, run.Command, run.Events);
        var dataset = await catalog.FindAsync(job.TenantId, job.Dataset, cancellationToken)
            ?? throw new InvalidOperationException($"Dataset {job.Dataset} disappeared while job {job.JobId} ran.");
        var target = new CopyTarget(job.TenantId, dataset, map);
        var copier = new BatchCopier(target, _options, logger);
        var staged = dataset.OnKeyConflict == KeyConflictPolicy.Upsert;
        var slice = Stopwatch.StartNew();
        var sinceProgress = Stopwatch.StartNew();
        var limits = await RejectLimits.ReadAsync(connection, job.JobId, dataset, cancellationToken);
        if (RejectLimit(limits, checkpoint, endOfFile: false) is { } stillOver)
        {
            // Stopped at its limit and run again without a higher one: stop before another batch loads.
            return await FailAsync(connection, job, checkpoint, events, stillOver, cancellationToken);
        }

        try
        {
            while (true)
            {
                records ??= await file.OpenAsync(map, new RecordPosition(checkpoint.ByteOffset, checkpoint.Line), null, cancellationToken);
                BatchResult batch;
                await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
                {
                    try
                    {
                        batch = await copier.CopyAsync(connection, records, checkpoint, staged, cancellationToken);
                    }
                    catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && !staged)
                    {
                        // A key collides: redo this batch (and the rest of the slice) through a staging table.
                        await transaction.RollbackAsync(cancellationToken);
                        LogStaging(job.JobId, checkpoint.Line);
                        staged = true;
                        records.Dispose();
                        records = null;
                        continue;
                    }

                    checkpoint = await checkpoint.AdvanceAsync(connection, batch.EndOffset, batch.EndLine, batch.Loaded,
                        batch.Rejected, cancellationToken, records.ObjectBytesRead);
                    if (batch.Loaded > 0)
                    {
                        // Last before commit: readers' ETags move with the rows, and the counter's row lock is brief.
                        await DatasetChanges.BumpAsync(connection, transaction, job.TenantId, dataset.Name, batch.Loaded, batch.Accounts,
                            cancellationToken);
                    }

                    await transaction.CommitAsync(cancellationToken);
                }

                Telemetry.RowsLoaded.WithLabels(job.TenantId).Inc(batch.Loaded);
                Telemetry.RowsRejected.WithLabels(job.TenantId).Inc(batch.Rejected);

                if (RejectLimit(limits, checkpoint, batch.EndOfFile) is { } overLimit)
                {
                    return await FailAsync(connection, job, checkpoint, events, overLimit, cancellationToken);
                }

                if (batch.EndOfFile)
                {
                    return await CompleteAsync(connection, job, checkpoint, events, cancellationToken);
                }

                if (await run.IsCancelledAsync(cancellationToken))
                {
                    return await StopAsync(connection, job, checkpoint, events, cancellationToken);
                }

                if (sinceProgress.Elapsed >= _options.ProgressInterval)
                {
                    await events.Publish(new UploadProgressed(job.JobId, checkpoint.RowsLoaded, checkpoint.RowsRejected,
                        checkpoint.ObjectBytesRead, checkpoint.BytesTotal, DateTimeOffset.UtcNow, job.Attempt,
                        checkpoint.UncompressedBytesRead), cancellationToken);
                    sinceProgress.Restart();
                }

                if (slice.Elapsed >= _options.SliceDuration)
                {
                    LogSliceEnd(job.JobId, checkpoint.Line, checkpoint.RowsLoaded);
                    return JobOutcome.Continue;
                }
            }
        }
        catch (RecordTooLongException e)
        {
            return await FailAsync(connection, job, checkpoint, events, new FileProblem("record_too_long",
                $"The record starting on line {e.Line:N0} is longer than {_options.MaxRecordBytes:N0} bytes{e.Hint}. Rows before it are loaded."),
                cancellationToken);
        }
        catch (InvalidDataException e)
        {
            // Only a decompressor throws this: what was committed before the broken data stays, and the job says where.
            return await FailAsync(connection, job, checkpoint, events, Corrupt(e, checkpoint), cancellationToken);
        }
        catch (CorruptParquetException e)
        {
            // Its footer read, a row group does not: the rows before the batch it broke stay, and the job says where.
            var problem = new FileProblem("corrupt_file", checkpoint.Line == 0
                ? $"The Parquet file is corrupt: {e.Message}; nothing was loaded."
                : $"The Parquet file is corrupt: {e.Message}. Rows up to row {checkpoint.Line:N0} are loaded, the rest are not.");
            return await FailAsync(connection, job, checkpoint, events, problem, cancellationToken);
        }
        finally
        {
            records?.Dispose();
        }
    }

    /// <summary>
    /// What reading the object throws that is the file's fault, not the attempt's, as the job's problem: the object replaced
    /// since the job began (its ETag no longer matches), or compressed data that does not decompress (only a decompressor
    /// throws <see cref="InvalidDataException"/>). Null for anything else, which fails the attempt to be retried.
    /// </summary>
    private static FileProblem? FileFault(Exception e, ProcessUpload job, Checkpoint? checkpoint) => e switch
    {
        AmazonS3Exception { StatusCode: HttpStatusCode.PreconditionFailed } => ObjectChanged(job),
        InvalidDataException broken => Corrupt(broken, checkpoint),
        _ => null,
    };

    private static FileProblem Corrupt(InvalidDataException e, Checkpoint? checkpoint) => new("corrupt_file",
        checkpoint is null
            ? $"The file's compressed data is corrupt or truncated ({e.Message}); nothing was loaded."
            : checkpoint.ChunkBytes is not null
                ? $"The file's compressed data is corrupt or truncated ({e.Message}). The rows its chunks loaded before it was found stay; the rest are not loaded."
                : $"The file's compressed data is corrupt or truncated after line {checkpoint.Line:N0} ({e.Message}). Rows up to that line are loaded, the rest are not.");

    private FileProblem? RejectLimit(RejectLimits limits, Checkpoint checkpoint, bool endOfFile)
    {
        // Rows staged by chunks ahead of their turn (keyed datasets) have been read, though not yet in the table.
        var seen = checkpoint.RowsLoaded + checkpoint.RowsStaged + checkpoint.RowsRejected;
        // A job in chunks has loaded rows beyond its first unfinished line too (the counts say how many).
        var stopped = checkpoint.ChunkBytes is null
            ? $"The job stopped after line {checkpoint.Line:N0}: rows up to there are loaded, the rest are not."
            : $"The job stopped with every row up to line {checkpoint.Line:N0} loaded; chunks further on had loaded some of theirs.";
        return limits.Crossed(checkpoint.RowsRejected, seen, endOfFile || seen >= _options.RatioMinimumRows) is { } crossed
            ? new FileProblem(RejectLimits.ErrorCode, $"{crossed} {stopped}")
            : null;
    }

    private async Task<JobOutcome> CompleteAsync(NpgsqlConnection connection, ProcessUpload job, Checkpoint checkpoint,
        IPublishEndpoint events, CancellationToken cancellationToken)
    {
        var rejectsKey = checkpoint.RowsRejected > 0
            ? await RejectsFile.WriteAsync(connection, store, job.TenantId, job.JobId, cancellationToken)
            : null;
        checkpoint = await checkpoint.FinishAsync(connection, rejectsKey, cancellationToken);
        await events.Publish(Processed(checkpoint, job.Attempt), cancellationToken);
        LogCompleted(job.JobId, checkpoint.RowsLoaded, checkpoint.RowsRejected);
        await DeleteSourceAsync(job);
        return JobOutcome.Done;
    }

    private async Task<JobOutcome> FailAsync(NpgsqlConnection? connection, ProcessUpload job, Checkpoint? checkpoint,
        IPublishEndpoint events, FileProblem problem, CancellationToken cancellationToken)
    {
        LogFailed(job.JobId, problem.Code, problem.Message);
        await EndAsync(connection, job, checkpoint, events, async final => new UploadFailed(job.JobId, problem.Code, problem.Message,
            final?.RowsLoaded ?? 0, final?.RowsRejected ?? 0, final?.ObjectBytesRead ?? 0,
            connection is not null && final is { RowsRejected: > 0 }
                ? await RejectsFile.WriteAsync(connection, store, job.TenantId, job.JobId, cancellationToken)
                : null,
            DateTimeOffset.UtcNow, job.Attempt, final?.UncompressedBytesRead), cancellationToken);
        return JobOutcome.Done;
    }

    /// <summary>Stops a cancelled job at a batch boundary (or before its first), and says where.</summary>
    private async Task<JobOutcome> StopAsync(NpgsqlConnection connection, ProcessUpload job, Checkpoint? checkpoint,
        IPublishEndpoint events, CancellationToken cancellationToken)
    {
        await EndAsync(connection, job, checkpoint, events, final =>
        {
            LogCancelled(job.JobId, final?.Line ?? 0, final?.RowsLoaded ?? 0);
            return Task.FromResult(new UploadCancelled(job.JobId, final?.RowsLoaded ?? 0, final?.RowsRejected ?? 0,
                final?.ObjectBytesRead ?? 0, final?.Line ?? 0, DateTimeOffset.UtcNow, job.Attempt, final?.UncompressedBytesRead));
        }, cancellationToken);
        return JobOutcome.Cancelled;
    }

    /// <summary>
    /// Says how a failed or cancelled job ended, with the counts <paramref name="end"/> is given. A one-stream load stopped
    /// at its checkpoint: they are its own, published at once. A load in chunks halts its chunks first
    /// (<see cref="ChunkPlan.HaltAsync"/>), since others may be loading elsewhere: nothing more commits until a retry, the
    /// chunks' sums read under the halt are final, and the end goes through the outbox in the halt's transaction, so a
    /// halt never stands without it (a halted chunk's message does nothing, and would not find the problem again).
    /// </summary>
    private static async Task EndAsync<TEnd>(NpgsqlConnection? connection, ProcessUpload job, Checkpoint? checkpoint,
        IPublishEndpoint events, Func<Checkpoint?, Task<TEnd>> end, CancellationToken cancellationToken)
        where TEnd : class
    {
        if (connection is null || checkpoint?.ChunkBytes is null || checkpoint.FinishedAt is not null)
        {
            await events.Publish(await end(checkpoint), cancellationToken);
            return;
        }

        await ChunkPlan.HaltAsync(connection, job.JobId, job.Attempt, async () =>
        {
            var final = await WithTotalsAsync(connection, checkpoint, cancellationToken);
            await Outbox.AddAsync(connection, await end(final), null, cancellationToken);
        }, cancellationToken);
    }

    private static UploadProcessed Processed(Checkpoint checkpoint, int attempt) => new(checkpoint.JobId, checkpoint.RowsLoaded,
        checkpoint.RowsRejected, checkpoint.BytesTotal, checkpoint.RejectsKey, checkpoint.FinishedAt!.Value, attempt,
        checkpoint.UncompressedBytesRead);

    private static FileProblem ObjectChanged(ProcessUpload job) => new("object_changed",
        $"The object s3://{job.Bucket}/{job.Key} was replaced after the job started; upload it as a new job.");

    /// <summary>The upload has served its purpose once the job completes; a failed job keeps it for a retry.</summary>
    private async Task DeleteSourceAsync(ProcessUpload job)
    {
        try
        {
            await store.DeleteAsync(job.Bucket, job.Key, CancellationToken.None);
        }
        catch (AmazonS3Exception e)
        {
            // The job is complete either way; retention removes what is left.
            logger.LogWarning(e, "Could not delete s3://{Bucket}/{Key} of completed job {JobId}", job.Bucket, job.Key, job.JobId);
        }
    }

    [LoggerMessage(LogLevel.Information, "Job {JobId}: keys collide with rows already loaded; batches after line {Line} go through a staging table")]
    private partial void LogStaging(Guid jobId, long line);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: the object is {Compression}-compressed ({Bytes} bytes): loaded as one chunk (a dialect with an escape character or without a header, or Processing:ChunkCompressed off)")]
    private partial void LogCompressedOneChunk(Guid jobId, string compression, long bytes);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: the object is a Parquet file ({Bytes} bytes) whose row groups do not make two chunks (one row group, a chunk of data or less, or Processing:ChunkParquet off): loaded as one chunk, a batch of rows at a time page by page")]
    private partial void LogParquetOneChunk(Guid jobId, long bytes);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: slice ends after line {Line} ({Rows} rows loaded); a new message carries on")]
    private partial void LogSliceEnd(Guid jobId, long line, long rows);

    [LoggerMessage(LogLevel.Information, "Job {JobId} completed: {Loaded} rows loaded, {Rejected} rejected")]
    private partial void LogCompleted(Guid jobId, long loaded, long rejected);

    [LoggerMessage(LogLevel.Information, "Job {JobId} cancelled: stopped after line {Line} with {Rows} rows loaded")]
    private partial void LogCancelled(Guid jobId, long line, long rows);

    [LoggerMessage(LogLevel.Warning, "Job {JobId} failed ({Code}): {Message}")]
    private partial void LogFailed(Guid jobId, string code, string message);
}

/// <summary>How an object's bytes become UTF-8 text: decompressed, then converted from its encoding.</summary>
internal sealed record SourceText(SourceEncoding Encoding, SourceCompression Compression)
{
    /// <summary>Not compressed but read in another encoding than UTF-8: its progress is its own bytes, with no uncompressed size.</summary>
    public bool Converted => Encoding != SourceEncoding.Utf8 && Compression == SourceCompression.None;
}

/// <summary>The upload is declared in a format this service has no reader for: the job fails with <see cref="Problem"/>.</summary>
internal sealed class UnsupportedFormatException(FileProblem problem) : Exception(problem.Message)
{
    public FileProblem Problem { get; } = problem;
}
