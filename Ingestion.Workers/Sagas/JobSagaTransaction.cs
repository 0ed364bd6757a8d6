using Ingestion.Platform.Jobs;
using MassTransit;
using Npgsql;

namespace Ingestion.Workers.Sagas;

/// <summary>
/// The unit of work of one message for one job: a connection and a transaction, the job's
/// row locked with <c>SELECT … FOR UPDATE</c> while its state machine runs, and the new
/// state written back only if the version read is still the one in the table.
/// </summary>
public sealed class JobSagaTransaction<TJob> : IAsyncDisposable
    where TJob : JobState
{
    private const string LoadForUpdateSql = $"select {JobRows.Columns} from ingestion.jobs where job_id = @id and kind = @kind for update";
    private const string LoadSql = $"select {JobRows.Columns} from ingestion.jobs where job_id = @id and kind = @kind";
    private const string DeleteSql = "delete from ingestion.jobs where job_id = @id and version = @version";

    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;
    private readonly string _kind;

    private readonly Dictionary<Guid, string> _loadedStates = [];
    private readonly List<Action> _afterCommit = [];

    internal JobSagaTransaction(NpgsqlConnection connection, NpgsqlTransaction transaction, string kind)
    {
        _connection = connection;
        _transaction = transaction;
        _kind = kind;
    }

    public NpgsqlConnection Connection => _connection;

    /// <summary>The job, locked until this transaction ends; null when there is none.</summary>
    public async Task<TJob?> LoadForUpdateAsync(Guid jobId, CancellationToken cancellationToken)
    {
        var job = await LoadAsync(LoadForUpdateSql, jobId, cancellationToken);
        if (job is not null)
        {
            _loadedStates[jobId] = job.CurrentState;
        }

        return job;
    }

    /// <summary>The state a job had when this transaction loaded it; "Initial" for a job it creates.</summary>
    public string StateBefore(Guid jobId) => _loadedStates.GetValueOrDefault(jobId, "Initial");

    public Task<TJob?> LoadAsync(Guid jobId, CancellationToken cancellationToken) =>
        LoadAsync(LoadSql, jobId, cancellationToken);

    /// <summary>
    /// Inserts a new job. False when a job with its id already exists: the insert then
    /// waits for the other transaction and does nothing, which keeps this transaction
    /// usable (a failed INSERT would abort it).
    /// </summary>
    /// <returns>The job as stored; null when a job with its id exists already.</returns>
    public async Task<string?> TryInsertAsync(TJob job, CancellationToken cancellationToken)
    {
        if (job.Version == 0)
        {
            job.Version = 1;
        }

        job.UpdatedAt = DateTimeOffset.UtcNow;
        await using var command = new NpgsqlCommand(JobRows.InsertSql, _connection, _transaction);
        var stored = JobRows.Bind(command, job);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1 ? stored : null;
    }

    /// <returns>The job as stored.</returns>
    public async Task<string> UpdateAsync(TJob job, CancellationToken cancellationToken)
    {
        job.Version++;
        job.UpdatedAt = DateTimeOffset.UtcNow;
        await using var command = new NpgsqlCommand(JobRows.UpdateSql, _connection, _transaction);
        var stored = JobRows.Bind(command, job);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new ConcurrencyException($"Job {job.CorrelationId} changed since version {job.Version - 1} was read.",
                typeof(TJob), job.CorrelationId);
        }

        return stored;
    }

    public async Task DeleteAsync(TJob job, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(DeleteSql, _connection, _transaction);
        command.Parameters.AddWithValue("id", job.CorrelationId);
        command.Parameters.AddWithValue("version", job.Version);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new ConcurrencyException($"Job {job.CorrelationId} changed since version {job.Version} was read.",
                typeof(TJob), job.CorrelationId);
        }
    }

    /// <summary>Something to do only once the changes are committed (metrics, which must not count a rollback).</summary>
    public void AfterCommit(Action action) => _afterCommit.Add(action);

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        await _transaction.CommitAsync(cancellationToken);
        foreach (var action in _afterCommit)
        {
            action();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Rolls back whatever was not committed: a failed message leaves the job as it was.
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }

    private async Task<TJob?> LoadAsync(string sql, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, _connection, _transaction);
        command.Parameters.AddWithValue("id", jobId);
        command.Parameters.AddWithValue("kind", _kind);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (TJob)JobRows.Read(reader) : null;
    }
}
