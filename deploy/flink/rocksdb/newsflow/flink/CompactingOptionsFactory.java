package newsflow.flink;

import java.util.Collection;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.contrib.streaming.state.ConfigurableRocksDBOptionsFactory;
import org.apache.flink.contrib.streaming.state.RocksDBOptionsFactory;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;

/**
 * RocksDB column family options Flink 1.19 does not expose as settings: the number of level-0
 * files that starts a compaction.
 *
 * <p>Each keyed state is a column family. RocksDB compacts one only once it has
 * level0_file_num_compaction_trigger level-0 files (4 by default), and Flink's incremental
 * checkpoint adds at most one per column family it wrote to. The buffering steps' 32 pending
 * buckets are each written by a few checkpoints, then cleared and left alone, so their deleted
 * articles stayed in the SST files every later checkpoint references (deploy/README.md,
 * "Checkpoint size against remembered articles"). A lower trigger compacts the clear together
 * with what it deletes. It applies to every column family (Flink's factory is not told which
 * state it configures), so large states are rewritten more often while they change.
 */
public class CompactingOptionsFactory implements ConfigurableRocksDBOptionsFactory {
    private static final long serialVersionUID = 1L;

    /** Level-0 files that start a compaction of a column family; RocksDB's default is 4. */
    public static final ConfigOption<Integer> LEVEL0_COMPACTION_TRIGGER =
            ConfigOptions.key("newsflow.rocksdb.level0-file-num-compaction-trigger")
                    .intType()
                    .defaultValue(4)
                    .withDescription("Level-0 files that start a compaction of a column family.");

    private int level0CompactionTrigger = LEVEL0_COMPACTION_TRIGGER.defaultValue();

    @Override
    public RocksDBOptionsFactory configure(ReadableConfig configuration) {
        int trigger = configuration.get(LEVEL0_COMPACTION_TRIGGER);
        if (trigger < 1) {
            throw new IllegalArgumentException(
                    LEVEL0_COMPACTION_TRIGGER.key() + " must be >= 1, got " + trigger);
        }
        level0CompactionTrigger = trigger;
        return this;
    }

    @Override
    public DBOptions createDBOptions(DBOptions current, Collection<AutoCloseable> handlesToClose) {
        return current;
    }

    @Override
    public ColumnFamilyOptions createColumnOptions(
            ColumnFamilyOptions current, Collection<AutoCloseable> handlesToClose) {
        return current.setLevel0FileNumCompactionTrigger(level0CompactionTrigger);
    }
}
