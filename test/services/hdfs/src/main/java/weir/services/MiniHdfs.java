package weir.services;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * Runs Hadoop's MiniDFSCluster (one NameNode, one DataNode) on loopback until
 * killed. Usage: MiniHdfs DATA_DIR NAMENODE_PORT NAMENODE_HTTP_PORT READY_FILE
 * Writes READY_FILE (containing the NameNode URI) once the cluster is active.
 */
public final class MiniHdfs {
  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: MiniHdfs DATA_DIR NAMENODE_PORT NAMENODE_HTTP_PORT READY_FILE");
      System.exit(2);
    }
    File dir = new File(args[0]);
    int port = Integer.parseInt(args[1]);
    int httpPort = Integer.parseInt(args[2]);
    Path ready = Path.of(args[3]);
    Files.deleteIfExists(ready);

    Configuration conf = new Configuration();
    conf.set("dfs.permissions.enabled", "false");
    conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
    conf.set("dfs.namenode.http-bind-host", "127.0.0.1");
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    conf.setInt("dfs.replication", 1);
    conf.setInt("dfs.namenode.safemode.extension.testing", 0);

    MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, dir)
        .nameNodePort(port)
        .nameNodeHttpPort(httpPort)
        .numDataNodes(1)
        .format(true)
        .build();
    cluster.waitActive();
    cluster.waitClusterUp();

    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        Files.deleteIfExists(ready);
      } catch (Exception ignored) {
      }
      cluster.shutdown();
    }));

    String uri = "hdfs://127.0.0.1:" + cluster.getNameNodePort();
    Files.writeString(ready, uri + "\n", StandardCharsets.UTF_8);
    System.out.println("MiniDFSCluster ready at " + uri);
    Thread.currentThread().join();
  }
}
