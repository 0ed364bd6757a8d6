using Ingestion.Platform.Limits;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Limits;

/// <summary>
/// <c>Limits:ConcurrentJobsPerTenant</c>: a tenant has N slots, each a PostgreSQL session
/// advisory lock keyed by the tenant and the slot's number, so they are counted across every
/// worker. A job works only while its connection holds one; if the worker dies, the
/// connection and the slot go with it. (Two tenants whose names hash alike would share
/// slots; that only makes them wait more.)
/// </summary>
public sealed class TenantSlots(IOptions<LimitOptions> options, ILogger<TenantSlots> logger)
{
    private const string TakeSql = "select pg_try_advisory_lock(hashtext('ingestion.slot:' || @tenant), @slot)";
    private const string ReleaseSql = "select pg_advisory_unlock(hashtext('ingestion.slot:' || @tenant), @slot)";

    /// <summary>How long a job pauses before it is handed back to its queue when every slot is taken.</summary>
    public TimeSpan Wait => options.Value.SlotWait;

    /// <summary>A free slot of the tenant, held by <paramref name="connection"/>; null when all are taken.</summary>
    public async Task<TenantSlot?> TryTakeAsync(NpgsqlConnection connection, string tenantId, CancellationToken cancellationToken)
    {
        for (var slot = 0; slot < options.Value.ConcurrentJobsPerTenant; slot++)
        {
            if (await RunAsync(connection, TakeSql, tenantId, slot, cancellationToken) is true)
            {
                return new TenantSlot(this, connection, tenantId, slot);
            }
        }

        return null;
    }

    /// <summary>
    /// Released explicitly, because a pooled connection would keep the lock until it is
    /// reused. A connection that broke has lost the lock with its session already.
    /// </summary>
    internal async Task ReleaseAsync(NpgsqlConnection connection, string tenantId, int slot)
    {
        if (connection.FullState != System.Data.ConnectionState.Open)
        {
            return;
        }

        try
        {
            await RunAsync(connection, ReleaseSql, tenantId, slot, CancellationToken.None);
        }
        catch (NpgsqlException e)
        {
            logger.LogWarning(e, "Could not release slot {Slot} of tenant {TenantId}; it ends with the connection", slot, tenantId);
            // Closing alone would park the session, lock and all, in the pool: clearing the pool
            // makes this physical connection close when it goes back, and PostgreSQL release the lock.
            NpgsqlConnection.ClearPool(connection);
            await connection.CloseAsync();
        }
    }

    private static async Task<object?> RunAsync(NpgsqlConnection connection, string sql, string tenantId, int slot,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("slot", slot);
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}

/// <summary>One of a tenant's slots, held until disposed.</summary>
public sealed class TenantSlot(TenantSlots slots, NpgsqlConnection connection, string tenantId, int number) : IAsyncDisposable
{
    public int Number => number;

    public ValueTask DisposeAsync() => new(slots.ReleaseAsync(connection, tenantId, number));
}
