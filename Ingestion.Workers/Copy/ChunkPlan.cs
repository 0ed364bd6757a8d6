using Ingestion.Platform.Datasets;
using Npgsql;

namespace Ingestion.Workers.Copy;

/// <summary>Where an upload loaded in chunks stands as a whole: what the join and the dispatch read.</summary>
internal sealed record ChunkPlanState(int Applied, bool ScanDone, bool Finished, int Chunks, int Done, string? NextState);

/// <summary>
/// The fork/join of an upload loaded in chunks, in PostgreSQL: the chunks the scan found
/// (<c>ingestion.upload_chunks</c>), which of them are sent, and, for a keyed dataset, the
/// application of staged chunks to the table in file order. Each statement runs in the caller's
/// transaction; the ones that must not run twice at once take a transaction advisory lock.
/// </summary>
internal static class ChunkPlan
{
    // Says what this worker reads (ReaderFence): the chunks a worker before migration 0038 would record for a UTF-16 JSON
    // Lines file are refused.
    private const string AddSql = $"""
        with reader as ({ReaderFence.Settings}),
        added as (
            insert into ingestion.upload_chunks (job_id, chunk, start_offset, end_offset, start_line, byte_offset, line,
                object_start, object_end)
            select @job, coalesce(max(c.chunk) + 1, 0), @from_offset, @to_offset, @from_line, @from_offset, @from_line,
                case when @object_end::bigint is null then null else coalesce(max(c.object_end), 0) end,
                case when @object_end::bigint is null then null else greatest(@object_end, coalesce(max(c.object_end), 0)) end
            from reader left join ingestion.upload_chunks c on c.job_id = @job
            returning chunk
        )
        update ingestion.upload_checkpoints
        set scanned_offset = @to_offset, scanned_line = @to_line, scan_done = @done, updated_at = now()
        where job_id = @job and scanned_offset = @from_offset and not scan_done and exists (select from added)
        """;

    private const string ScannedSql = "select scanned_offset, scanned_line from ingestion.upload_checkpoints where job_id = @job";

    // The window: pending chunks are sent, in file order, while fewer than @in_flight are sent or loaded.
    // A loaded chunk (staged, not yet applied) keeps its place until the join applies it: otherwise a
    // slow chunk at the head would let every chunk after it be staged, the whole file twice over.
    private const string SendSql = """
        with next as (
            select chunk from ingestion.upload_chunks
            where job_id = @job and state = 'pending'
            order by chunk
            limit greatest(0, @in_flight - (select count(*) from ingestion.upload_chunks
                                             where job_id = @job and state in ('sent', 'loaded')))
            for update
        )
        update ingestion.upload_chunks c set state = 'sent', sent_attempt = @attempt, updated_at = now()
        from next where c.job_id = @job and c.chunk = next.chunk
        returning c.chunk
        """;

    // A sent chunk's message is owed again when it was sent for an earlier attempt (whose messages the
    // job layer skips), or when its row has not moved for @stale (the message may be lost). A chunk
    // being loaded moves its row with every batch; sending marks it, so the next copy waits @stale more.
    // Rows taken in chunk order, as everything else takes them (a halt among them).
    private const string ResendSql = """
        with owed as (
            select chunk from ingestion.upload_chunks
            where job_id = @job and state = 'sent' and (sent_attempt < @attempt or updated_at < now() - @stale)
            order by chunk
            for update
        )
        update ingestion.upload_chunks c set sent_attempt = @attempt, updated_at = now()
        from owed where c.job_id = @job and c.chunk = owed.chunk
        returning c.chunk
        """;

    // A chunk whose stage table exists keeps its rows there until it is applied: they are counted apart, as staged, not
    // as loaded into the table (its stage's name as UploadChunk.StageTableOf makes it). A compressed file's chunks know their
    // part of the object (object_start, object_end): a chunk read to its end counts all of it, one part read its share.
    private const string TotalsSql = """
        select coalesce(sum(rows_loaded) filter (where not staged), 0)::bigint, coalesce(sum(rows_rejected), 0)::bigint,
               coalesce(min(start_offset) + sum(byte_offset - start_offset), 0)::bigint,
               coalesce(min(line) filter (where state <> 'done'), max(line), 0)::bigint,
               coalesce(sum(rows_loaded) filter (where staged), 0)::bigint,
               sum(case when state in ('loaded', 'done') then object_end - object_start
                        else (object_end - object_start)::numeric * (byte_offset - start_offset) / greatest(end_offset - start_offset, 1)
                   end)::bigint
        from (select *, to_regclass('ingestion.upload_stage_' || replace(job_id::text, '-', '') || '_' || chunk) is not null as staged
              from ingestion.upload_chunks where job_id = @job) c
        """;

    private const string StateSql = """
        select p.applied_chunks, p.scan_done, p.finished_at is not null,
               (select count(*)::int from ingestion.upload_chunks c where c.job_id = p.job_id),
               (select count(*)::int from ingestion.upload_chunks c where c.job_id = p.job_id and c.state = 'done'),
               (select c.state from ingestion.upload_chunks c where c.job_id = p.job_id and c.chunk = p.applied_chunks)
        from ingestion.upload_checkpoints p where p.job_id = @job
        """;

    private const string AppliedSql = """
        with chunk as (
            update ingestion.upload_chunks
            set state = 'done', rows_loaded = @loaded, rows_rejected = rows_rejected + @rejected, updated_at = now()
            where job_id = @job and chunk = @chunk and state = 'loaded'
            returning chunk
        )
        update ingestion.upload_checkpoints set applied_chunks = applied_chunks + 1, updated_at = now()
        where job_id = @job and applied_chunks = @chunk and exists (select from chunk)
        """;

    // A fresh chunk whose predecessors are all applied, or of a job still loading in parallel (no eviction
    // yet); or one that has loaded batches and has no stage.
    private const string DirectSql = """
        select (@byte_offset = @start_offset
                and (p.applied_chunks = @chunk
                     or (@parallel and p.parallel_chunks
                         and not exists (select from ingestion.upload_chunks c where c.job_id = p.job_id and c.evictions > 0))))
            or (@byte_offset > @start_offset and to_regclass(@stage) is null)
        from ingestion.upload_checkpoints p where p.job_id = @job
        """;

    private const string AtCursorSql = "select applied_chunks = @chunk from ingestion.upload_checkpoints where job_id = @job";

    // A chunk still loading whose staged rows were applied: its counts become the table's, and it goes on directly.
    private const string CaughtUpSql = """
        update ingestion.upload_chunks
        set rows_loaded = @loaded, rows_rejected = rows_rejected + @rejected, updated_at = now()
        where job_id = @job and chunk = @chunk and state = 'sent' and byte_offset = @byte_offset
        """;

    // The cursor passes the chunks that are done: loaded directly, in their turn or (in parallel) out of it.
    // It never moves back: a chunk evicted is after the unfinished chunk that evicted it. Unmoved, the row is
    // not written (nor locked), so the scan recording chunks meanwhile does not wait for this join.
    private const string SkipDoneSql = """
        with cursor as (
            select coalesce(min(chunk) filter (where state <> 'done'), count(*)::int) as next
            from ingestion.upload_chunks where job_id = @job
        )
        update ingestion.upload_checkpoints p set applied_chunks = cursor.next, updated_at = now()
        from cursor
        where p.job_id = @job and p.finished_at is null and p.applied_chunks <> cursor.next
        """;

    private const string ForgetBatchesSql = "delete from ingestion.upload_chunk_batches where job_id = @job";

    // The plan's row, then every chunk row of the job in chunk order (as batches, evictions, sends and resends take
    // them), marked halted for the attempt: each waits for the batch open on it. A join applying a chunk takes that
    // chunk's row before the plan's, and a send after an eviction may take a pending row below its own: either may
    // deadlock with a halt, which PostgreSQL breaks within deadlock_timeout, and both sides do their work again.
    private const string HaltSql = """
        select from ingestion.upload_checkpoints where job_id = @job for update;
        with locked as (
            select chunk from ingestion.upload_chunks where job_id = @job order by chunk for update
        )
        update ingestion.upload_chunks c set halted_attempt = greatest(c.halted_attempt, @attempt)
        from locked where c.job_id = @job and c.chunk = locked.chunk
        """;

    private const string HaltedSql = """
        select exists (select from ingestion.upload_chunks where job_id = @job and halted_attempt >= @attempt)
        """;

    /// <summary>
    /// Whether a keyed dataset's chunk loads straight into the table: it is the next to apply (every
    /// chunk before it is in the table), or the job loads in <paramref name="parallel"/> (reject policy) and
    /// has evicted no chunk yet; and it has not started staging. Decided when it starts, and kept: one
    /// that has loaded batches goes on as it began, which its stage table's existence tells.
    /// </summary>
    public static async Task<bool> LoadsDirectlyAsync(NpgsqlConnection connection, UploadChunk chunk, bool parallel,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(DirectSql, connection);
        command.Parameters.AddWithValue("parallel", parallel);
        command.Parameters.AddWithValue("job", chunk.JobId);
        command.Parameters.AddWithValue("chunk", chunk.Number);
        command.Parameters.AddWithValue("byte_offset", chunk.ByteOffset);
        command.Parameters.AddWithValue("start_offset", chunk.StartOffset);
        command.Parameters.AddWithValue("stage", chunk.StageTable);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>Moves the cursor past the chunks that are done, in the join's transaction (under its lock).</summary>
    public static async Task SkipDoneAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(SkipDoneSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Halts the job's chunks at <paramref name="attempt"/>, which failed or was cancelled, in a transaction of its own,
    /// then runs <paramref name="halted"/> in it: once the halt holds every chunk row, every batch that was open has
    /// committed or rolled back, and none of the attempt commits after (each locks its chunk's row first and finds it
    /// halted), so the chunks' sums read there are the job's final counts, and what it records (the job's end, through
    /// the outbox) commits with the halt or not at all: a halt never stands without the end that explains it.
    /// The plan's row is locked first, as the scan locks it when it records a chunk: a chunk recorded before is marked,
    /// and one recorded after is sent only once the halt is committed, so its message finds the job halted
    /// (<see cref="HaltedAsync"/>) before it starts. A deadlock (with a join's apply, see HaltSql) is retried.
    /// </summary>
    public static async Task HaltAsync(NpgsqlConnection connection, Guid jobId, int attempt, Func<Task> halted,
        CancellationToken cancellationToken)
    {
        for (var deadlocks = 0; ; deadlocks++)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            try
            {
                await using (var command = new NpgsqlCommand(HaltSql, connection))
                {
                    command.Parameters.AddWithValue("job", jobId);
                    command.Parameters.AddWithValue("attempt", attempt);
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }

                await halted();
                await transaction.CommitAsync(cancellationToken);
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DeadlockDetected && deadlocks < 10)
            {
                await transaction.RollbackAsync(cancellationToken);
            }
        }
    }

    /// <summary>Whether the job halted its chunks at <paramref name="attempt"/> or later (<see cref="HaltAsync"/>).</summary>
    public static async Task<bool> HaltedAsync(NpgsqlConnection connection, Guid jobId, int attempt, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(HaltedSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("attempt", attempt);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>At the join: the batches' transaction ids are needed only while chunks may be evicted.</summary>
    public static async Task ForgetBatchesAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ForgetBatchesSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records the chunk the scan found, from the last boundary to <paramref name="toOffset"/>, and
    /// moves the scan past it, fenced on where it was: a scan that resumes starts after it.
    /// </summary>
    /// <param name="objectEnd">
    /// A compressed file's: where in the object the chunk's text ends (its part starts where the previous chunk's ended).
    /// </param>
    public static async Task AddAsync(NpgsqlConnection connection, Guid jobId, long fromOffset, long fromLine, long toOffset,
        long toLine, bool scanDone, long? objectEnd, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(AddSql, connection);
        command.Parameters.Add(new NpgsqlParameter<long?>("object_end", NpgsqlTypes.NpgsqlDbType.Bigint) { TypedValue = objectEnd });
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("from_offset", fromOffset);
        command.Parameters.AddWithValue("from_line", fromLine);
        command.Parameters.AddWithValue("to_offset", toOffset);
        command.Parameters.AddWithValue("to_line", toLine);
        command.Parameters.AddWithValue("done", scanDone);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new InvalidOperationException(
                $"The chunk scan of job {jobId} is no longer at byte {fromOffset}: another attempt moved it. This chunk is not recorded.");
        }
    }

    public static async Task<(long Offset, long Line)> ScannedAsync(NpgsqlConnection connection, Guid jobId,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ScannedSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>
    /// Marks the next pending chunks sent, as many as the window has room for; returns their numbers.
    /// The window holds the chunks sent and those loaded but not applied, so it also bounds what is staged.
    /// </summary>
    public static Task<List<int>> SendAsync(NpgsqlConnection connection, Guid jobId, int attempt, int inFlight,
        CancellationToken cancellationToken) =>
        ChunksAsync(connection, SendSql, jobId, cancellationToken, ("attempt", attempt), ("in_flight", inFlight));

    /// <summary>
    /// The chunks sent and unfinished whose message may be gone: sent for an earlier attempt, or quiet
    /// for <paramref name="staleAfter"/>. Marked sent for <paramref name="attempt"/> now, so that the
    /// job's next turns do not send them again.
    /// </summary>
    public static Task<List<int>> ResendAsync(NpgsqlConnection connection, Guid jobId, int attempt, TimeSpan staleAfter,
        CancellationToken cancellationToken) =>
        ChunksAsync(connection, ResendSql, jobId, cancellationToken, ("attempt", attempt), ("stale", staleAfter));

    /// <summary>
    /// The sums of the job's chunks: rows in the table, rows rejected, bytes of text read (from the end of the header), the
    /// first unfinished line, rows staged, and for a compressed file the object's bytes read (null for any other).
    /// </summary>
    public static async Task<(long Loaded, long Rejected, long BytesRead, long Line, long Staged, long? ObjectRead)> TotalsAsync(
        NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(TotalsSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4),
            reader.IsDBNull(5) ? null : reader.GetInt64(5));
    }

    public static async Task<ChunkPlanState> StateAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(StateSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new ChunkPlanState(reader.GetInt32(0), reader.GetBoolean(1), reader.GetBoolean(2), reader.GetInt32(3),
            reader.GetInt32(4), reader.IsDBNull(5) ? null : reader.GetString(5));
    }

    /// <summary>
    /// Held until the caller's transaction ends, so that only one transaction at a time sends a job's
    /// chunks, or applies and joins them. A second one waits, then sees what the first committed.
    /// </summary>
    public static async Task LockAsync(NpgsqlConnection connection, long key, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_advisory_xact_lock(@key)", connection);
        command.Parameters.AddWithValue("key", key);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Applies a staged chunk of a keyed dataset to the table, in the caller's transaction, as a
    /// one-chunk load applies a staged batch: with <c>reject</c>, rows repeating a key within the
    /// chunk or one already in the table (from before the job, or from an earlier chunk, since
    /// chunks are applied in file order) become rejects; with <c>upsert</c>, the chunk's last row per
    /// key wins over the table. Then its stage is dropped and the chunk is done.
    /// </summary>
    /// <returns>The rows loaded into the table, the rows the keys rejected, and the later chunks evicted.</returns>
    public static async Task<(long Loaded, long Rejected, Eviction Evicted)> ApplyAsync(NpgsqlConnection connection, CopyTarget target,
        UploadChunk chunk, ChunkEviction eviction, CancellationToken cancellationToken)
    {
        var (loaded, rejected, evicted) = await ApplyStageAsync(connection, target, chunk, eviction, cancellationToken);
        await using var command = new NpgsqlCommand(AppliedSql, connection);
        command.Parameters.AddWithValue("job", chunk.JobId);
        command.Parameters.AddWithValue("chunk", chunk.Number);
        command.Parameters.AddWithValue("loaded", loaded);
        command.Parameters.AddWithValue("rejected", rejected);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new InvalidOperationException(
                $"Chunk {chunk.Number} of job {chunk.JobId} is not the next to apply: another attempt applied it. Nothing is committed.");
        }

        return (loaded, rejected, evicted);
    }

    /// <summary>
    /// Whether every chunk before this one is applied, so that the rest of it can go straight into the
    /// table (no chunk after it is in the table: they stage while it is unfinished).
    /// </summary>
    public static async Task<bool> AtCursorAsync(NpgsqlConnection connection, UploadChunk chunk, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(AtCursorSql, connection);
        command.Parameters.AddWithValue("job", chunk.JobId);
        command.Parameters.AddWithValue("chunk", chunk.Number);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>
    /// A staging chunk that the cursor reached while it loads: its staged rows are applied now, as
    /// <see cref="ApplyAsync"/> applies a finished chunk's, its stage dropped, and its counts made the
    /// table's, in the caller's transaction, fenced on its checkpoint. Its next batches go straight into
    /// the table (its stage no longer exists, which is what a resumed chunk reads), so only the rows it
    /// loaded ahead of its turn are written twice. Returns the chunk with its new counts.
    /// </summary>
    public static async Task<(UploadChunk Chunk, long Loaded, long Rejected, Eviction Evicted)> CatchUpAsync(
        NpgsqlConnection connection, CopyTarget target, UploadChunk chunk, ChunkEviction eviction, CancellationToken cancellationToken)
    {
        var (loaded, rejected, evicted) = await ApplyStageAsync(connection, target, chunk, eviction, cancellationToken);
        await using var command = new NpgsqlCommand(CaughtUpSql, connection);
        command.Parameters.AddWithValue("job", chunk.JobId);
        command.Parameters.AddWithValue("chunk", chunk.Number);
        command.Parameters.AddWithValue("byte_offset", chunk.ByteOffset);
        command.Parameters.AddWithValue("loaded", loaded);
        command.Parameters.AddWithValue("rejected", rejected);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new InvalidOperationException(
                $"Chunk {chunk.Number} of job {chunk.JobId} is no longer at byte {chunk.ByteOffset}: another attempt moved it. Nothing is committed.");
        }

        return (chunk with { RowsLoaded = loaded, RowsRejected = chunk.RowsRejected + rejected }, loaded, rejected, evicted);
    }

    /// <summary>
    /// Decides a chunk's stage against the table. Under <c>reject</c>, later chunks that loaded in parallel
    /// and hold its keys are evicted first (<see cref="ChunkEviction"/>); the rows it inserts are recorded as
    /// a batch of the chunk, like any other that writes rows of a keyed job loaded in chunks.
    /// </summary>
    private static async Task<(long Loaded, long Rejected, Eviction Evicted)> ApplyStageAsync(NpgsqlConnection connection,
        CopyTarget target, UploadChunk chunk, ChunkEviction eviction, CancellationToken cancellationToken)
    {
        await BatchCopier.ExecuteAsync(connection, $"analyze {target.StageName}", cancellationToken);
        long loaded;
        long rejected = 0;
        var evicted = Eviction.None;
        if (target.Dataset.OnKeyConflict == KeyConflictPolicy.Upsert)
        {
            await BatchCopier.ExecuteAsync(connection, target.UpsertFromStageSql, cancellationToken);
            loaded = chunk.RowsLoaded;
        }
        else
        {
            rejected += await BatchCopier.RejectAsync(connection, target, target.RejectDuplicatesInFileSql, chunk.JobId, cancellationToken);
            evicted = await eviction.EvictLaterChunksAsync(connection, target, cancellationToken);
            rejected += await BatchCopier.RejectAsync(connection, target, target.RejectKeysBeforeLaterChunksSql, chunk.JobId,
                cancellationToken, chunk.Number);
            loaded = await BatchCopier.ExecuteAsync(connection, target.InsertFromStageSql, cancellationToken);
            if (loaded > 0)
            {
                await chunk.RecordBatchAsync(connection, chunk.StartLine, chunk.Line, cancellationToken);
            }
        }

        await BatchCopier.ExecuteAsync(connection, $"drop table {target.StageName}", cancellationToken);
        return (loaded, rejected, evicted);
    }

    private static async Task<List<int>> ChunksAsync(NpgsqlConnection connection, string sql, Guid jobId,
        CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("job", jobId);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        var chunks = new List<int>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            chunks.Add(reader.GetInt32(0));
        }

        return chunks;
    }
}
