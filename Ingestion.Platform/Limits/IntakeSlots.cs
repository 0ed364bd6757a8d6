using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Platform.Limits;

/// <summary>Why an upload may not start now.</summary>
public enum IntakeRefusal
{
    /// <summary>The tenant has <c>UploadsInFlightPerTenant</c> uploads streaming, on any API instance.</summary>
    Tenant,

    /// <summary>This API instance streams <c>UploadsInFlightPerInstance</c> uploads, whatever their tenants.</summary>
    Instance,
}

/// <summary>
/// Bodies streaming into the service at once, asked before a body is read. Per instance: a
/// counter in this process. Per tenant, across instances: the tenant's slots are PostgreSQL
/// session advisory locks <c>(hashtext('ingestion.intake:' || tenant), n)</c>, n &lt; the limit, all
/// held by one connection of this instance, so an upload costs two short statements, not a
/// connection. A lock is re-entrant within its session, so the slots this instance holds are
/// excluded by the query itself; statements on the connection take turns. If the connection
/// breaks, PostgreSQL drops its locks: the uploads it admitted finish uncounted, and the next
/// one opens a new connection.
/// </summary>
public sealed partial class IntakeSlots(NpgsqlDataSource dataSource, IOptions<LimitOptions> options, ILogger<IntakeSlots> logger)
    : IAsyncDisposable
{
    private const string TakeSql = """
        select n from generate_series(0, @limit - 1) n
        where n <> all(@held) and pg_try_advisory_lock(hashtext('ingestion.intake:' || @tenant), n)
        limit 1
        """;

    private const string ReleaseSql = "select pg_advisory_unlock(hashtext('ingestion.intake:' || @tenant), @slot)";

    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly Dictionary<string, HashSet<int>> _held = new(StringComparer.Ordinal);
    private NpgsqlConnection? _connection;
    private int _generation;
    private int _inFlight;

    public LimitOptions Limits => options.Value;

    /// <summary>A lease on both slots, to dispose when the upload ends; or why there is none.</summary>
    public async Task<(IntakeLease? Lease, IntakeRefusal Refusal)> TryEnterAsync(string tenantId, CancellationToken cancellationToken)
    {
        // The tenant first: a tenant over its own limit is told so (429), not that the instance is busy.
        var slot = await TryTakeAsync(tenantId, cancellationToken);
        if (slot is null)
        {
            return (null, IntakeRefusal.Tenant);
        }

        var lease = new IntakeLease(this, tenantId, slot.Value.Slot, slot.Value.Generation);
        if (Interlocked.Increment(ref _inFlight) > options.Value.UploadsInFlightPerInstance)
        {
            await lease.DisposeAsync();
            return (null, IntakeRefusal.Instance);
        }

        return (lease, default);
    }

    private async Task<(int Slot, int Generation)?> TryTakeAsync(string tenantId, CancellationToken cancellationToken)
    {
        await _turn.WaitAsync(cancellationToken);
        try
        {
            var held = _held.TryGetValue(tenantId, out var set) ? set : [];
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    var connection = _connection ??= await dataSource.OpenConnectionAsync(cancellationToken);
                    await using var command = new NpgsqlCommand(TakeSql, connection);
                    command.Parameters.AddWithValue("limit", options.Value.UploadsInFlightPerTenant);
                    command.Parameters.AddWithValue("held", held.ToArray());
                    command.Parameters.AddWithValue("tenant", tenantId);
                    // Not cancelled with the request: a cancel landing after the lock was taken but before
                    // its number came back would leave the shared session holding a slot nobody releases.
                    if (await command.ExecuteScalarAsync(CancellationToken.None) is not int slot)
                    {
                        return null;
                    }

                    held.Add(slot);
                    _held[tenantId] = held;
                    return (slot, _generation);
                }
                catch (NpgsqlException e) when (attempt == 0 && _connection is { FullState: not System.Data.ConnectionState.Open })
                {
                    // The session is gone, and every lock with it: start a new one.
                    LogSessionLost(e);
                    await ResetAsync();
                    held = [];
                }
            }
        }
        finally
        {
            _turn.Release();
        }
    }

    internal async Task ReleaseAsync(string tenantId, int slot, int generation)
    {
        Interlocked.Decrement(ref _inFlight);
        await _turn.WaitAsync(CancellationToken.None);
        try
        {
            if (generation != _generation || _connection is null || !_held.TryGetValue(tenantId, out var held) || !held.Remove(slot))
            {
                return;
            }

            if (held.Count == 0)
            {
                _held.Remove(tenantId);
            }

            await using var command = new NpgsqlCommand(ReleaseSql, _connection);
            command.Parameters.AddWithValue("tenant", tenantId);
            command.Parameters.AddWithValue("slot", slot);
            await command.ExecuteScalarAsync(CancellationToken.None);
        }
        catch (NpgsqlException e)
        {
            // Unreleased, the lock would outlive the upload: end the session, which drops every lock it holds.
            LogSessionLost(e);
            await ResetAsync();
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>Called with the turn held.</summary>
    private async Task ResetAsync()
    {
        _generation++;
        _held.Clear();
        if (_connection is { } connection)
        {
            _connection = null;
            NpgsqlConnection.ClearPool(connection);
            await connection.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        _turn.Dispose();
    }

    [LoggerMessage(LogLevel.Warning, "The session holding upload slots broke; its slots are released and a new one starts")]
    private partial void LogSessionLost(Exception e);
}

/// <summary>An upload's place in its tenant's and its instance's count, until disposed.</summary>
public sealed class IntakeLease(IntakeSlots slots, string tenantId, int slot, int generation) : IAsyncDisposable
{
    private int _disposed;

    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _disposed, 1) == 0 ? new ValueTask(slots.ReleaseAsync(tenantId, slot, generation)) : ValueTask.CompletedTask;
}
