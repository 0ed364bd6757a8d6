using System.Data.Common;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Platform.Jobs;

/// <summary>
/// How a job maps to its row in <c>ingestion.jobs</c>: the columns that are filtered,
/// indexed and locked, and the whole instance as JSON. Shared by the API's intake and
/// the saga repository, so both write exactly the same row.
/// </summary>
public static class JobRows
{
    public const string Columns = "job_id, kind, tenant_id, current_state, version, dataset, idempotency_key, created_at, updated_at, data::text";

    /// <summary>Does nothing on a duplicate id or idempotency key; the caller reads the affected count.</summary>
    public const string InsertSql = """
        insert into ingestion.jobs (job_id, kind, tenant_id, current_state, version, dataset, idempotency_key, created_at, updated_at, data)
        values (@job_id, @kind, @tenant_id, @current_state, @version, @dataset, @idempotency_key, @created_at, @updated_at, @data)
        on conflict do nothing
        """;

    /// <summary>Optimistic: matches only the version that was read.</summary>
    public const string UpdateSql = """
        update ingestion.jobs
        set current_state = @current_state, version = @version, updated_at = @updated_at, data = @data
        where job_id = @job_id and version = @version - 1
        """;

    /// <returns>The job as stored in <c>data</c>, for whatever else the same transaction records of it.</returns>
    public static string Bind(NpgsqlCommand command, JobState job)
    {
        var p = command.Parameters;
        p.AddWithValue("job_id", job.CorrelationId);
        p.AddWithValue("kind", job.Kind);
        p.AddWithValue("tenant_id", job.TenantId);
        p.AddWithValue("current_state", job.CurrentState);
        p.AddWithValue("version", job.Version);
        p.AddWithValue("dataset", (object?)job.Dataset ?? DBNull.Value);
        p.AddWithValue("idempotency_key", (object?)job.IdempotencyKey ?? DBNull.Value);
        p.AddWithValue("created_at", job.CreatedAt);
        p.AddWithValue("updated_at", job.UpdatedAt);
        var data = JobSerializer.Serialize(job);
        p.AddWithValue("data", NpgsqlDbType.Jsonb, data);
        return data;
    }

    /// <summary>Reads a row selected with <see cref="Columns"/>.</summary>
    public static JobState Read(DbDataReader reader)
    {
        var job = JobSerializer.Deserialize(reader.GetString(1), reader.GetString(9));

        // The columns are the truth for what the saga repository locks and versions.
        job.CorrelationId = reader.GetGuid(0);
        job.CurrentState = reader.GetString(3);
        job.Version = reader.GetInt32(4);
        return job;
    }
}
