using System.Diagnostics;
using System.Net;
using Amazon.S3;
using CsvHelper;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Hosting;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Outbox;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Workers.Jobs;
using Ingestion.Workers.Parquet;
using Ingestion.Workers.Sagas;
using Ingestion.Workers.StateMachines;
using Npgsql;

namespace Ingestion.Workers.Uploads;

/// <summary>
/// An object larger than <see cref="UploadProcessingOptions.ChunkBytes"/> is loaded in chunks, by
/// several workers at once (fork/join, all of it in PostgreSQL):
/// <list type="number">
/// <item><b>Fork.</b> The job's own message (<see cref="ProcessUpload.Chunk"/> null) checks the file
/// and its header once, then cuts the file into chunks (<see cref="IChunkScan"/>: a text object at record boundaries, a
/// Parquet file at row-group starts).
/// Each chunk found is recorded with the scan's new position and, while the job has fewer than
/// <see cref="UploadProcessingOptions.ChunksInFlightPerJob"/> chunks sent or staged, its
/// <see cref="ProcessUpload"/> is written to the outbox, in one transaction: loading starts before
/// the scan ends, and a killed scan resumes after the last chunk it recorded.</item>
/// <item><b>Chunks.</b> A chunk's message takes the lock of its own unit (chunk + 1), reads its byte
/// range, and commits its batches with its own checkpoint, as a one-chunk load does. A keyless
/// dataset's rows go straight into the table; so do a keyed dataset's when every chunk before is
/// applied; otherwise they are kept in the chunk's stage. When a chunk is done (loaded into the table, or
/// applied from its stage), the next pending one is sent: a staged chunk keeps its place in the window
/// until it is applied, so the window also bounds how much of the file is staged.</item>
/// <item><b>Join.</b> Whoever ends a chunk then applies staged chunks to the table in file order
/// (keyed datasets: so duplicate keys are decided as a sequential load decides them) and, once every
/// chunk is done and the scan is over, completes the job: reject limits on the whole file's counts,
/// the rejects file, the checkpoint finished with the sums, <see cref="UploadProcessed"/>.</item>
/// </list>
/// A retry (or the reaper) sends the job's message again: it sends again the chunks that were sent for
/// an earlier attempt or whose rows have not moved for <see cref="UploadProcessingOptions.ChunkResendAfter"/>,
/// and carries on the scan and the window; finished chunks are not loaded again.
/// </summary>
public sealed partial class UploadProcessor
{
    // Keys among the job's units for the plan's own critical sections (chunks are 1…n, the job 0).
    private const long SendUnit = -1;
    private const long JoinUnit = -2;

    // Consecutive clashes one batch may meet before its message faults: each redo is staged and sees what the
    // batches it waited for committed, so more than a few means something other than keys is wrong.
    private const int MaxClashes = 10;

    public long UnitOf(ProcessUpload command) => command.Chunk is { } chunk ? chunk + 1L : 0;

    private static bool Keyed(DatasetDefinition dataset) => dataset.Key.Count > 0;

    /// <summary>
    /// Whether a large file of this dataset is cut into chunks: keyless and <c>reject</c> datasets, whose chunks load
    /// straight into the table in parallel; an <c>upsert</c> dataset's only when <see cref="UploadProcessingOptions.ChunkUpserts"/>
    /// says so, since its chunks are applied in file order through stages, slower than one stream on a small database.
    /// </summary>
    private bool Chunked(DatasetDefinition dataset) =>
        !Keyed(dataset) || dataset.OnKeyConflict == KeyConflictPolicy.Reject || _options.ChunkUpserts;

    /// <summary>What an eviction by this chunk needs: the file, to read an evicted chunk's rows again for their keys.</summary>
    private ChunkEviction EvictionBy(ProcessUpload job, int chunk, IRecordSource file, HeaderMap map) =>
        new(job.JobId, chunk, (from, endOffset, cancellationToken) => file.OpenAsync(map, from, endOffset, cancellationToken), logger);

    /// <summary>The job's message for a job loaded in chunks: scan, send, then join if everything is in.</summary>
    private async Task<JobOutcome> ForkAsync(JobRun<ProcessUpload> run, DatasetDefinition dataset, HeaderMap map, IRecordSource file,
        Checkpoint checkpoint, CancellationToken cancellationToken)
    {
        var (connection, job, events) = (run.Connection, run.Command, run.Events);
        var limits = await RejectLimits.ReadAsync(connection, job.JobId, dataset, cancellationToken);
        var totals = await WithTotalsAsync(connection, checkpoint, cancellationToken);
        if (RejectLimit(limits, totals!, endOfFile: false) is { } stillOver)
        {
            return await FailAsync(connection, job, totals, events, stillOver, cancellationToken);
        }

        // Chunks sent whose messages may be gone: those of an earlier attempt (a failed attempt's are
        // skipped), and those quiet for ChunkResendAfter (a lost message). Not those sent by an earlier
        // turn of this attempt, which are queued or loading: every scan turn would add a copy of each.
        // A copy too many does nothing: its chunk is busy or finished.
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            foreach (var chunk in await ChunkPlan.ResendAsync(connection, job.JobId, job.Attempt, _options.ChunkResendAfter,
                         cancellationToken))
            {
                await Outbox.AddAsync(connection, job with { Chunk = chunk }, UploadStateMachine.Work.Queue, cancellationToken);
            }

            await SendChunksAsync(connection, job, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        if (!checkpoint.ScanDone)
        {
            var slice = Stopwatch.StartNew();
            var (offset, line) = await ChunkPlan.ScannedAsync(connection, job.JobId, cancellationToken);
            using var scan = await file.ScanAsync(new RecordPosition(offset, line),
                new ChunkSizing(checkpoint.ChunkBytes!.Value, _options.ChunksInFlightPerJob), checkpoint.BytesTotal,
                cancellationToken);
            while (true)
            {
                var (to, last, objectEnd) = await scan.NextAsync(cancellationToken);
                await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
                {
                    await ChunkPlan.AddAsync(connection, job.JobId, offset, line, to.Offset, to.Line, last, objectEnd, cancellationToken);
                    await SendChunksAsync(connection, job, cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                }

                if (last)
                {
                    LogScanned(job.JobId, checkpoint.BytesTotal);
                    break;
                }

                (offset, line) = (to.Offset, to.Line);
                if (await ChunkPlan.HaltedAsync(connection, job.JobId, job.Attempt, cancellationToken))
                {
                    // A chunk failed the job: the rest of the file is scanned by the retry, if one comes.
                    LogHalted(job.JobId, "the chunk scan", line);
                    return JobOutcome.Done;
                }

                if (await run.IsCancelledAsync(cancellationToken))
                {
                    return await StopAsync(connection, job, checkpoint, events,
                        cancellationToken);
                }

                if (slice.Elapsed >= _options.SliceDuration)
                {
                    LogScanSliceEnd(job.JobId, offset);
                    return JobOutcome.Continue;
                }
            }
        }

        return await JoinAsync(run, dataset, map, file, checkpoint, cancellationToken);
    }

    /// <summary>One chunk's message: load its range, batch by batch, each committed with the chunk's checkpoint.</summary>
    private async Task<JobOutcome> LoadChunkAsync(JobRun<ProcessUpload> run, int number, CancellationToken cancellationToken)
    {
        var (connection, job, events) = (run.Connection, run.Command, run.Events);

        // A job that failed (or completed) owes no chunk work until it is retried; the retry sends the chunk again.
        if (await jobs.StateAsync(job.JobId, cancellationToken) is var state && state != Kind.Queued && state != Kind.Running)
        {
            LogChunkNotOwed(job.JobId, number, state ?? "missing");
            return JobOutcome.Done;
        }

        var checkpoint = await Checkpoint.FindAsync(connection, job.JobId, cancellationToken);
        if (checkpoint is null)
        {
            return JobOutcome.Done;
        }

        // The join committed the job's end, but the worker may have died before UploadProcessed left:
        // the job is still running, and this copy of a chunk's message is what is left to say it.
        if (checkpoint.FinishedAt is not null)
        {
            return await SayFinishedAsync(job, checkpoint, events, cancellationToken);
        }

        var dataset = await catalog.FindAsync(job.TenantId, job.Dataset, cancellationToken);
        if (dataset is null)
        {
            return await FailAsync(connection, job, checkpoint, events,
                new FileProblem("unknown_dataset", $"Tenant '{job.TenantId}' has no dataset '{job.Dataset}'."), cancellationToken);
        }

        // A plain object (UTF-8 text, or Parquet, which compresses its own pages) is read at its chunks' byte ranges; a
        // compressed one is sniffed again, as its first attempt found it (the object is pinned to its ETag), and decompressed.
        var dialect = await UploadDialect.ReadAsync(connection, job.JobId, dataset, cancellationToken);
        var format = await UploadDialect.ReadFormatAsync(connection, job.JobId, dataset, cancellationToken);
        var source = new Platform.Storage.ObjectInfo(checkpoint.BytesTotal, checkpoint.ETag);
        var text = new SourceText(SourceEncoding.Utf8, SourceCompression.None);
        try
        {
            if (checkpoint.CompressedChunks)
            {
                (_, text) = await SniffAsync(job, source, format, dialect, cancellationToken);
            }
        }
        catch (Exception e) when (FileFault(e, job, checkpoint) is { } fault)
        {
            return await FailAsync(connection, job, checkpoint, events, fault, cancellationToken);
        }

        var file = SourceFor(format, job, source, dataset, dialect, text);
        var (map, problem) = file.Resume(checkpoint.Header);
        if (problem is not null)
        {
            return await FailAsync(connection, job, checkpoint, events,
                problem, cancellationToken);
        }

        if (await ChunkPlan.HaltedAsync(connection, job.JobId, job.Attempt, cancellationToken))
        {
            // Another chunk failed the job (or a cancel stopped it) before the saga's state says so: its counts are taken.
            LogHalted(job.JobId, $"chunk {number}", checkpoint.Line);
            return JobOutcome.Done;
        }

        var chunk = await UploadChunk.BeginAttemptAsync(connection, job.JobId, number, cancellationToken);
        if (chunk is null || chunk.State != UploadChunk.Sent)
        {
            // Loaded by an earlier delivery: what may still be owed is the join.
            return chunk is null ? JobOutcome.Done : await JoinThenCarryOnAsync(run, number, dataset, map!, file, checkpoint, cancellationToken);
        }

        var limits = await RejectLimits.ReadAsync(connection, job.JobId, dataset, cancellationToken);
        var keyed = Keyed(dataset);

        // Under reject, a keyed job's chunks load straight into the table in parallel, as a one-chunk load
        // does: a collision redoes the batch through a temporary stage, which evicts a later chunk that holds
        // one of its keys and rejects the rest as before. After the job's first eviction, and always under
        // upsert (the last line wins), only the chunk whose predecessors are all applied loads directly; the
        // others keep their rows in their stage until their turn.
        var parallel = keyed && dataset.OnKeyConflict == KeyConflictPolicy.Reject;
        var direct = !keyed || await ChunkPlan.LoadsDirectlyAsync(connection, chunk, parallel, cancellationToken);
        BatchCopier Copier() => new(new CopyTarget(job.TenantId, dataset, map!, direct ? null : chunk.StageTable), _options, logger,
            parallel && direct ? EvictionBy(job, number, file, map!) : null);
        var copier = Copier();
        var staged = false;
        var clashes = 0;
        var slice = Stopwatch.StartNew();
        var sinceProgress = Stopwatch.StartNew();
        IUploadRecords? records = null;
        try
        {
            while (true)
            {
                if (!direct && await ChunkPlan.AtCursorAsync(connection, chunk, cancellationToken))
                {
                    // Every chunk before this one is in the table now: the rest of it goes there directly.
                    if (await CatchUpAsync(connection, job, dataset, map!, file, chunk, cancellationToken) is not { } caughtUp)
                    {
                        LogHalted(job.JobId, $"chunk {number}", chunk.Line);
                        return JobOutcome.Done;
                    }

                    chunk = caughtUp;
                    LogChunkCaughtUp(job.JobId, number, chunk.Line);
                    direct = true;
                    copier = Copier();
                }

                records ??= await file.OpenAsync(map!, new RecordPosition(chunk.ByteOffset, chunk.Line), chunk.EndOffset, cancellationToken);
                var mode = !direct ? BatchMode.Kept : staged ? BatchMode.Staged : BatchMode.Direct;
                BatchResult batch;
                await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
                {
                    // First: an eviction of this chunk waits for this batch to commit, or came first and is seen here.
                    var current = await chunk.LockAsync(connection, cancellationToken);
                    if (current.HaltedAt(job.Attempt))
                    {
                        // The job failed or was cancelled elsewhere and read its final counts: nothing more commits.
                        await transaction.RollbackAsync(cancellationToken);
                        LogHalted(job.JobId, $"chunk {number}", chunk.Line);
                        return JobOutcome.Done;
                    }

                    if (current.Evictions != chunk.Evictions)
                    {
                        // An earlier chunk holds a key this one loaded: it undid this chunk's rows and reset its checkpoint.
                        // Nothing of this batch is written; the chunk is loaded again from its start, as the job now loads.
                        await transaction.RollbackAsync(cancellationToken);
                        LogChunkEvicted(job.JobId, number, current.Evictions);
                        records.Dispose();
                        records = null;
                        chunk = current;
                        direct = await ChunkPlan.LoadsDirectlyAsync(connection, chunk, parallel, cancellationToken);
                        copier = Copier();
                        staged = false;
                        continue;
                    }

                    var fromLine = chunk.Line;
                    try
                    {
                        batch = await copier.CopyAsync(connection, records, job.JobId, chunk.ByteOffset, chunk.Line, mode,
                            cancellationToken);
                    }
                    catch (PostgresException e) when (mode != BatchMode.Kept && ++clashes <= MaxClashes
                        && e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DeadlockDetected)
                    {
                        // A key collides (with rows committed, or, loading in parallel, with another chunk's open batch,
                        // which may deadlock with this one): redo this batch, and the rest of the chunk, through a stage.
                        await transaction.RollbackAsync(cancellationToken);
                        LogStaging(job.JobId, chunk.Line);
                        staged = true;
                        records.Dispose();
                        records = null;
                        continue;
                    }

                    clashes = 0;
                    chunk = await chunk.AdvanceAsync(connection, batch.EndOffset, batch.EndLine, batch.Loaded, batch.Rejected,
                        !batch.EndOfFile ? UploadChunk.Sent : direct ? UploadChunk.Done : UploadChunk.Loaded, cancellationToken);
                    if (parallel && direct && batch.Loaded > 0)
                    {
                        await chunk.RecordBatchAsync(connection, fromLine, batch.EndLine, cancellationToken);
                    }

                    var evicted = batch.Evicted ?? Eviction.None;
                    if (batch.EndOfFile || evicted.Chunks.Count > 0)
                    {
                        // Its place in the window goes to the next chunk, in the transaction that frees it; an evicted
                        // chunk that was done is pending again, and sent as the window allows.
                        await SendChunksAsync(connection, job, cancellationToken);
                    }

                    if (direct && (batch.Loaded > 0 || evicted.Rows > 0))
                    {
                        // Rows a reader can see now: their ETags move in the same commit (kept rows move them when applied).
                        await DatasetChanges.BumpAsync(connection, transaction, job.TenantId, dataset.Name, batch.Loaded - evicted.Rows,
                            batch.Accounts, cancellationToken);
                    }

                    await transaction.CommitAsync(cancellationToken);
                    LogEvictions(job.JobId, number, evicted);
                }

                Telemetry.RowsLoaded.WithLabels(job.TenantId).Inc(direct ? batch.Loaded : 0);
                Telemetry.RowsRejected.WithLabels(job.TenantId).Inc(batch.Rejected);
                var totals = (await WithTotalsAsync(connection, checkpoint, cancellationToken))!;
                if (RejectLimit(limits, totals, endOfFile: false) is { } overLimit)
                {
                    return await FailAsync(connection, job, totals, events, overLimit, cancellationToken);
                }

                if (batch.EndOfFile)
                {
                    LogChunkLoaded(job.JobId, number, chunk.RowsLoaded, chunk.RowsRejected);
                    return await JoinThenCarryOnAsync(run, number, dataset, map!, file, checkpoint, cancellationToken);
                }

                var now = await jobs.StateAsync(job.JobId, cancellationToken);
                if (now == JobStates.Cancelled)
                {
                    return await StopAsync(connection, job, totals, events, cancellationToken);
                }

                if (now != Kind.Queued && now != Kind.Running)
                {
                    // Failed by another chunk's fault (an error given up on after its retries): the chunks stop where
                    // they are, as they do when a chunk fails the job itself, and a retry carries them on.
                    await ChunkPlan.HaltAsync(connection, job.JobId, job.Attempt, () => Task.CompletedTask, cancellationToken);
                    LogHalted(job.JobId, $"chunk {number}", chunk.Line);
                    return JobOutcome.Done;
                }

                if (sinceProgress.Elapsed >= _options.ProgressInterval)
                {
                    await events.Publish(new UploadProgressed(job.JobId, totals.RowsLoaded, totals.RowsRejected, totals.ObjectBytesRead,
                        totals.BytesTotal, DateTimeOffset.UtcNow, job.Attempt, totals.UncompressedBytesRead), cancellationToken);
                    sinceProgress.Restart();
                }

                if (slice.Elapsed >= _options.SliceDuration)
                {
                    LogSliceEnd(job.JobId, chunk.Line, chunk.RowsLoaded);
                    return JobOutcome.Continue;
                }
            }
        }
        catch (RecordTooLongException e)
        {
            return await FailAsync(connection, job, checkpoint, events,
                new FileProblem("record_too_long",
                    $"The record starting on line {e.Line:N0} is longer than {_options.MaxRecordBytes:N0} bytes{e.Hint}."),
                cancellationToken);
        }
        catch (Exception e) when (FileFault(e, job, checkpoint) is { } fault)
        {
            // Broken compressed data: the scan, which reads the whole text first, most likely found it already.
            return await FailAsync(connection, job, checkpoint, events, fault, cancellationToken);
        }
        catch (CorruptParquetException e)
        {
            // Its footer read, a row group in this chunk does not: the job fails, and its chunks halt where they are.
            return await FailAsync(connection, job, checkpoint, events, new FileProblem("corrupt_file",
                $"The Parquet file is corrupt: {e.Message}. The rows its chunks loaded before stay; the rest are not loaded."),
                cancellationToken);
        }
        finally
        {
            records?.Dispose();
        }
    }

    /// <summary>
    /// The join that ends a chunk's message, then a look at the chunk: if it is owed again (<c>sent</c>, the job queued or
    /// running), this message carries it on. An earlier chunk may evict it while this turn joins (the join can wait for
    /// another's apply), and the eviction sends it again: that copy finds the chunk's lock held and steps aside (JobWorker,
    /// <c>JobOutcome.Busy</c>, for every kind), trusting the holder, and without this the chunk waited for
    /// <see cref="UploadProcessingOptions.ChunkResendAfter"/>. Copies never loop: whenever two meet at the lock, one steps
    /// aside and is gone (a redelivered one is sent again once, after 5 s, since its holder may have died with it).
    /// </summary>
    private async Task<JobOutcome> JoinThenCarryOnAsync(JobRun<ProcessUpload> run, int number, DatasetDefinition dataset,
        HeaderMap map, IRecordSource file, Checkpoint checkpoint, CancellationToken cancellationToken)
    {
        var outcome = await JoinAsync(run, dataset, map, file, checkpoint, cancellationToken);
        if (outcome != JobOutcome.Done
            || await UploadChunk.FindAsync(run.Connection, run.Command.JobId, number, cancellationToken) is not { State: UploadChunk.Sent }
            || await jobs.StateAsync(run.Command.JobId, cancellationToken) is var state && state != Kind.Queued && state != Kind.Running)
        {
            return outcome;
        }

        LogChunkOwedAgain(run.Command.JobId, number);
        return JobOutcome.Continue;
    }

    /// <summary>
    /// Applies the staged chunks that are next in file order, then, once every chunk is done and the
    /// scan is over, completes the job. One transaction at a time per job does this (the others wait,
    /// then find it done), so no chunk is applied twice and the job is completed once.
    /// </summary>
    private async Task<JobOutcome> JoinAsync(JobRun<ProcessUpload> run, DatasetDefinition dataset, HeaderMap map,
        IRecordSource file, Checkpoint checkpoint, CancellationToken cancellationToken)
    {
        var (connection, job, events) = (run.Connection, run.Command, run.Events);
        var clashes = 0;
        while (true)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await ChunkPlan.LockAsync(connection, JobLock.KeyOf(job.JobId, JoinUnit), cancellationToken);
            if (await ChunkPlan.HaltedAsync(connection, job.JobId, job.Attempt, cancellationToken))
            {
                // Failed or cancelled with the counts it had: neither applied further nor completed until a retry.
                await transaction.RollbackAsync(cancellationToken);
                return JobOutcome.Done;
            }

            await ChunkPlan.SkipDoneAsync(connection, job.JobId, cancellationToken);
            var plan = await ChunkPlan.StateAsync(connection, job.JobId, cancellationToken);
            if (plan.Finished)
            {
                await transaction.CommitAsync(cancellationToken);
                return JobOutcome.Done;
            }

            if (Keyed(dataset) && plan.NextState == UploadChunk.Loaded)
            {
                // Locked first, as a batch locks its chunk: a halt that came after the look above waits for this apply.
                var next = await (await UploadChunk.FindAsync(connection, job.JobId, plan.Applied, cancellationToken))!
                    .LockAsync(connection, cancellationToken);
                if (next.HaltedAt(job.Attempt))
                {
                    await transaction.RollbackAsync(cancellationToken);
                    return JobOutcome.Done;
                }

                var target = new CopyTarget(job.TenantId, dataset, map, next.StageTable);
                var accounts = target.AccountSlot >= 0 ? await StagedAccountsAsync(connection, target, cancellationToken) : null;
                long loaded, rejected;
                Eviction evicted;
                try
                {
                    (loaded, rejected, evicted) = await ChunkPlan.ApplyAsync(connection, target, next,
                        EvictionBy(job, next.Number, file, map), cancellationToken);
                }
                catch (PostgresException e) when (IsClash(e) && ++clashes <= MaxClashes)
                {
                    // A later chunk still loading in parallel committed (or holds open) one of the stage's keys after
                    // the eviction looked: applied again, the eviction finds it, as a batch redone staged does.
                    await transaction.RollbackAsync(cancellationToken);
                    LogApplyRedone(job.JobId, next.Number, e.SqlState);
                    continue;
                }

                clashes = 0;

                // An applied chunk leaves the window: its place goes to the next pending chunk in the
                // transaction that frees it, or nothing would send it once the loaded chunks fill the window.
                await SendChunksAsync(connection, job, cancellationToken);
                if (loaded > 0 || evicted.Rows > 0)
                {
                    // Last, as every load does: the counter rows are locked after the send lock, never before.
                    await DatasetChanges.BumpAsync(connection, transaction, job.TenantId, dataset.Name, loaded - evicted.Rows,
                        Accounts(accounts, evicted), cancellationToken);
                }
                await transaction.CommitAsync(cancellationToken);
                LogEvictions(job.JobId, next.Number, evicted);
                Telemetry.RowsLoaded.WithLabels(job.TenantId).Inc(loaded);
                Telemetry.RowsRejected.WithLabels(job.TenantId).Inc(rejected);
                LogChunkApplied(job.JobId, next.Number);
                continue;
            }

            if (!plan.ScanDone || plan.Done < plan.Chunks)
            {
                // A chunk still loading (or waiting to be applied) joins when it ends. The cursor moved past the chunks
                // done above is kept: a chunk loading ahead of its turn sees its turn come (and goes on straight into
                // the table) only by it.
                await transaction.CommitAsync(cancellationToken);
                return JobOutcome.Done;
            }

            // Every chunk is in. The reject limits are the whole file's, judged as at the end of a one-chunk load.
            var totals = (await WithTotalsAsync(connection, checkpoint, cancellationToken))!;
            var limits = await RejectLimits.ReadAsync(connection, job.JobId, dataset, cancellationToken);
            if (RejectLimit(limits, totals, endOfFile: true) is { } overLimit)
            {
                await transaction.CommitAsync(cancellationToken);
                return await FailAsync(connection, job, totals, events, overLimit, cancellationToken);
            }

            var rejectsKey = totals.RowsRejected > 0
                ? await RejectsFile.WriteAsync(connection, store, job.TenantId, job.JobId, cancellationToken)
                : null;
            var finished = await checkpoint.FinishChunksAsync(connection, rejectsKey, cancellationToken);
            await ChunkPlan.ForgetBatchesAsync(connection, job.JobId, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            await events.Publish(Processed(finished, job.Attempt), cancellationToken);
            LogCompleted(job.JobId, finished.RowsLoaded, finished.RowsRejected);
            await DeleteSourceAsync(job);
            return JobOutcome.Done;
        }
    }

    /// <summary>
    /// Applies what a chunk staged ahead of its turn, once its turn has come while it loads, in one
    /// transaction (<see cref="ChunkPlan.CatchUpAsync"/>); a chunk that has staged nothing just goes on directly.
    /// Null when the job halted its chunks (<see cref="ChunkPlan.HaltAsync"/>): nothing is applied.
    /// </summary>
    private async Task<UploadChunk?> CatchUpAsync(NpgsqlConnection connection, ProcessUpload job, DatasetDefinition dataset,
        HeaderMap map, IRecordSource file, UploadChunk chunk, CancellationToken cancellationToken)
    {
        if (chunk.ByteOffset == chunk.StartOffset)
        {
            return chunk;
        }

        var clashes = 0;
        while (true)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            try
            {
                return await CatchUpOnceAsync(connection, transaction, job, dataset, map, file, chunk, cancellationToken);
            }
            catch (PostgresException e) when (IsClash(e) && ++clashes <= MaxClashes)
            {
                // As in the join: a later chunk loading in parallel wrote one of the stage's keys after the eviction
                // looked, or its open batch deadlocked with this one. Redone, the eviction finds it.
                await transaction.RollbackAsync(cancellationToken);
                LogApplyRedone(job.JobId, chunk.Number, e.SqlState);
            }
        }
    }

    private async Task<UploadChunk?> CatchUpOnceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ProcessUpload job,
        DatasetDefinition dataset, HeaderMap map, IRecordSource file, UploadChunk chunk, CancellationToken cancellationToken)
    {
        // First, as a batch does: a halt waits for this transaction, or came first and is seen here.
        if ((await chunk.LockAsync(connection, cancellationToken)).HaltedAt(job.Attempt))
        {
            await transaction.RollbackAsync(cancellationToken);
            return null;
        }

        var target = new CopyTarget(job.TenantId, dataset, map, chunk.StageTable);
        var accounts = target.AccountSlot >= 0 ? await StagedAccountsAsync(connection, target, cancellationToken) : null;
        var (caughtUp, loaded, rejected, evicted) = await ChunkPlan.CatchUpAsync(connection, target, chunk,
            EvictionBy(job, chunk.Number, file, map), cancellationToken);
        if (evicted.Chunks.Count > 0)
        {
            await SendChunksAsync(connection, job, cancellationToken);
        }

        if (loaded > 0 || evicted.Rows > 0)
        {
            await DatasetChanges.BumpAsync(connection, transaction, job.TenantId, dataset.Name, loaded - evicted.Rows,
                Accounts(accounts, evicted), cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        LogEvictions(job.JobId, chunk.Number, evicted);
        Telemetry.RowsLoaded.WithLabels(job.TenantId).Inc(loaded);
        Telemetry.RowsRejected.WithLabels(job.TenantId).Inc(rejected);
        return caughtUp;
    }

    /// <summary>Sends the next pending chunks the window has room for, through the outbox, in the caller's transaction.</summary>
    private async Task SendChunksAsync(NpgsqlConnection connection, ProcessUpload job, CancellationToken cancellationToken)
    {
        await ChunkPlan.LockAsync(connection, JobLock.KeyOf(job.JobId, SendUnit), cancellationToken);
        foreach (var chunk in await ChunkPlan.SendAsync(connection, job.JobId, job.Attempt, _options.ChunksInFlightPerJob,
                           cancellationToken))
        {
            await Outbox.AddAsync(connection, job with { Chunk = chunk }, UploadStateMachine.Work.Queue, cancellationToken);
        }
    }

    /// <summary>A job's checkpoint as progress, failures and cancels report it: for a job in chunks, the sums of its chunks'.</summary>
    private static async Task<Checkpoint?> WithTotalsAsync(NpgsqlConnection connection, Checkpoint? checkpoint,
        CancellationToken cancellationToken)
    {
        if (checkpoint?.ChunkBytes is null || checkpoint.FinishedAt is not null)
        {
            return checkpoint;
        }

        var (loaded, rejected, done, line, staged, objectRead) = await ChunkPlan.TotalsAsync(connection, checkpoint.JobId,
            cancellationToken);
        return checkpoint with
        {
            RowsLoaded = loaded, RowsRejected = rejected, ByteOffset = done, Line = line, RowsStaged = staged,
            // A plan in rows (Parquet): the object's bytes read, as far as progress can tell them, are its share of the rows.
            // A compressed file: its chunks' shares of their parts of the object (none before the scan records a chunk).
            CompressedRead = checkpoint.RowsTotal is > 0 and var rows ? (long)((double)done / rows * checkpoint.BytesTotal)
                : checkpoint.CompressedChunks ? objectRead ?? 0 : null,
        };
    }

    /// <summary>The accounts a transaction touched: those of the rows it applied, and those of the rows an eviction deleted.</summary>
    private static IReadOnlyCollection<long>? Accounts(IReadOnlyCollection<long>? applied, Eviction evicted) =>
        evicted.Accounts.Count == 0 ? applied : [.. (applied ?? []).Union(evicted.Accounts)];

    private void LogEvictions(Guid jobId, int chunk, Eviction evicted)
    {
        foreach (var later in evicted.Chunks)
        {
            LogChunkEvicts(jobId, chunk, later, evicted.Rows);
        }
    }

    [LoggerMessage(LogLevel.Information, "Job {JobId}: chunk {Chunk} holds a key that chunk {Later} loaded first: chunk {Later} is evicted ({Rows} rows deleted) and loads again, and the job's chunks ahead of their turn are staged from now on")]
    private partial void LogChunkEvicts(Guid jobId, int chunk, int later, long rows);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: chunk {Chunk} was evicted (eviction {Evictions}) while it loaded: its open batch is dropped and it loads again from its start")]
    private partial void LogChunkEvicted(Guid jobId, int chunk, int evictions);

    [LoggerMessage(LogLevel.Information, "Job {JobId} failed or was cancelled and halted its chunks: {What} stops at line {Line}, its checkpoint, until a retry")]
    private partial void LogHalted(Guid jobId, string what, long line);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: the chunk scan's slice ends at byte {Offset}; a new message carries on")]
    private partial void LogScanSliceEnd(Guid jobId, long offset);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: the chunk scan reached the end of its {Bytes} bytes")]
    private partial void LogScanned(Guid jobId, long bytes);

    [LoggerMessage(LogLevel.Information, "Job {JobId} is {State}: chunk {Chunk} does no work")]
    private partial void LogChunkNotOwed(Guid jobId, int chunk, string state);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: chunk {Chunk} was sent again while this turn held it; this message carries it on")]
    private partial void LogChunkOwedAgain(Guid jobId, int chunk);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: chunk {Chunk} loaded ({Rows} rows, {Rejected} rejected)")]
    private partial void LogChunkLoaded(Guid jobId, int chunk, long rows, long rejected);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: chunk {Chunk} reached its turn while loading; what it staged is applied, and it goes on directly from line {Line}")]
    private partial void LogChunkCaughtUp(Guid jobId, int chunk, long line);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: chunk {Chunk} applied to the table")]
    private partial void LogChunkApplied(Guid jobId, int chunk);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: applying chunk {Chunk}'s stage met a chunk loading in parallel ({SqlState}); applied again")]
    private partial void LogApplyRedone(Guid jobId, int chunk, string sqlState);

    /// <summary>A key collision with another chunk's rows, or a deadlock with its open batch: the transaction is redone.</summary>
    private static bool IsClash(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DeadlockDetected;

    /// <summary>
    /// The accounts a kept chunk touches when it is applied, for their change counters: its staged rows'
    /// and, under upsert, those of the rows they replace.
    /// </summary>
    private static async Task<IReadOnlyCollection<long>> StagedAccountsAsync(NpgsqlConnection connection, CopyTarget target,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(target.StagedAccountsSql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var accounts = new List<long>();
        while (await reader.ReadAsync(cancellationToken))
        {
            accounts.Add(reader.GetInt64(0));
        }

        return accounts;
    }
}
